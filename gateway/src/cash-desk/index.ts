export { registerCashDesk, type CashDeskOptions } from './routes';
export { cashDeskMayRead, notThisPayment } from './scope';
export {
  verifyCashDeskToken,
  cashDeskPrincipal,
  cashDeskScope,
  type CashDeskGrant,
  type CashDeskVerdict,
} from './token';
export { formatAmount, usableLocale } from './format';
