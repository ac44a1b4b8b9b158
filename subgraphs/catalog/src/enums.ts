import { registerEnumType } from 'type-graphql';

export enum ProductKind {
  COIN_PACK = 'COIN_PACK',
  ITEM = 'ITEM',
  SERVICE_ACCESS = 'SERVICE_ACCESS',
}
registerEnumType(ProductKind, {
  name: 'ProductKind',
  valuesConfig: {
    COIN_PACK: { description: "Credits the player wallet with the variant's walletCredit." },
    ITEM: { description: 'An in-game item delivered to the game server.' },
    SERVICE_ACCESS: {
      description: "Grants access to the product's service for the variant's accessDays.",
    },
  },
});

export enum ChannelKind {
  CARRIER_BILLING = 'CARRIER_BILLING',
  PREMIUM_SMS = 'PREMIUM_SMS',
  CARD = 'CARD',
  WALLET = 'WALLET',
}
registerEnumType(ChannelKind, { name: 'ChannelKind' });

export enum PlanInterval {
  DAY = 'DAY',
  WEEK = 'WEEK',
  MONTH = 'MONTH',
}
registerEnumType(PlanInterval, { name: 'PlanInterval' });
