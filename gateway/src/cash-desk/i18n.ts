/** The cash desk's texts. English is the fallback for every other language. */
export const LANGUAGES = ['en', 'fr', 'de'] as const;
export type Language = (typeof LANGUAGES)[number];

export const FAILURE_CODES = [
  'INSUFFICIENT_FUNDS',
  'DENIED',
  'LIMIT_EXCEEDED',
  'INVALID_OTP',
  'CONSENT_EXPIRED',
  'CHANNEL_UNAVAILABLE',
  'CANCELED_BY_USER',
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export const TEST_CARDS = ['tok_ok', 'tok_declined', 'tok_insufficient', 'tok_3ds'] as const;
export type TestCard = (typeof TEST_CARDS)[number];

export interface Messages {
  title: string;
  order: string;
  amount: string;
  card: string;
  cardHint: string;
  cards: Record<TestCard, string>;
  /** "{amount}" is replaced by the formatted amount. */
  pay: string;
  paying: string;
  status: Record<'REQUIRES_ACTION' | 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED', string>;
  checking: string;
  authenticate: string;
  consent: string;
  done: string;
  reasons: Record<FailureCode | 'OTHER', string>;
  reconnecting: string;
  payError: string;
  notWaiting: string;
  errors: Record<
    'expired' | 'invalid' | 'forbidden' | 'notFound' | 'unavailable',
    { title: string; text: string }
  >;
}

const en: Messages = {
  title: 'Cash desk',
  order: 'Order',
  amount: 'Amount',
  card: 'Card',
  cardHint: 'Test cards of the card simulator: the token is what a PSP’s card field would return.',
  cards: {
    tok_ok: 'Card accepted',
    tok_declined: 'Card declined',
    tok_insufficient: 'Insufficient funds',
    tok_3ds: 'Card with 3-D Secure authentication',
  },
  pay: 'Pay {amount}',
  paying: 'Paying…',
  status: {
    REQUIRES_ACTION: 'Waiting for your card',
    PROCESSING: 'Processing your payment…',
    SUCCEEDED: 'Payment successful',
    FAILED: 'Payment failed',
    CANCELED: 'Payment canceled',
  },
  checking: 'Checking your payment…',
  authenticate: 'Continue to your bank’s authentication',
  consent: 'Open your carrier’s consent page',
  done: 'You can close this page and return to the game.',
  reasons: {
    INSUFFICIENT_FUNDS: 'Your card has insufficient funds.',
    DENIED: 'Your bank declined the payment.',
    LIMIT_EXCEEDED: 'A spending limit has been reached.',
    INVALID_OTP: 'The confirmation code was wrong too many times.',
    CONSENT_EXPIRED: 'The confirmation was not given in time.',
    CHANNEL_UNAVAILABLE: 'The payment service is unavailable. Please try again later.',
    CANCELED_BY_USER: 'You canceled the payment.',
    OTHER: 'The payment could not be completed.',
  },
  reconnecting: 'Connection lost, reconnecting…',
  payError: 'The payment could not be sent. Please try again.',
  notWaiting: 'This payment no longer waits for a card.',
  errors: {
    expired: {
      title: 'This payment link has expired',
      text: 'Go back to the game to start the payment again.',
    },
    invalid: {
      title: 'This payment link is not valid',
      text: 'Go back to the game to start the payment again.',
    },
    forbidden: {
      title: 'This payment link is not valid',
      text: 'Go back to the game to start the payment again.',
    },
    notFound: {
      title: 'Payment not found',
      text: 'Go back to the game to start the payment again.',
    },
    unavailable: {
      title: 'The cash desk is temporarily unavailable',
      text: 'Please try again in a moment.',
    },
  },
};

const fr: Messages = {
  title: 'Caisse',
  order: 'Commande',
  amount: 'Montant',
  card: 'Carte',
  cardHint:
    'Cartes de test du simulateur : le jeton est ce que renverrait le champ carte d’un PSP.',
  cards: {
    tok_ok: 'Carte acceptée',
    tok_declined: 'Carte refusée',
    tok_insufficient: 'Solde insuffisant',
    tok_3ds: 'Carte avec authentification 3-D Secure',
  },
  pay: 'Payer {amount}',
  paying: 'Paiement…',
  status: {
    REQUIRES_ACTION: 'En attente de votre carte',
    PROCESSING: 'Paiement en cours…',
    SUCCEEDED: 'Paiement réussi',
    FAILED: 'Échec du paiement',
    CANCELED: 'Paiement annulé',
  },
  checking: 'Vérification de votre paiement…',
  authenticate: 'Continuer vers l’authentification de votre banque',
  consent: 'Ouvrir la page de consentement de votre opérateur',
  done: 'Vous pouvez fermer cette page et revenir au jeu.',
  reasons: {
    INSUFFICIENT_FUNDS: 'Le solde de votre carte est insuffisant.',
    DENIED: 'Votre banque a refusé le paiement.',
    LIMIT_EXCEEDED: 'Une limite de dépenses a été atteinte.',
    INVALID_OTP: 'Le code de confirmation était erroné trop de fois.',
    CONSENT_EXPIRED: 'La confirmation n’a pas été donnée à temps.',
    CHANNEL_UNAVAILABLE: 'Le service de paiement est indisponible. Veuillez réessayer plus tard.',
    CANCELED_BY_USER: 'Vous avez annulé le paiement.',
    OTHER: 'Le paiement n’a pas pu aboutir.',
  },
  reconnecting: 'Connexion perdue, reconnexion…',
  payError: 'Le paiement n’a pas pu être envoyé. Veuillez réessayer.',
  notWaiting: 'Ce paiement n’attend plus de carte.',
  errors: {
    expired: {
      title: 'Ce lien de paiement a expiré',
      text: 'Revenez au jeu pour recommencer le paiement.',
    },
    invalid: {
      title: 'Ce lien de paiement n’est pas valide',
      text: 'Revenez au jeu pour recommencer le paiement.',
    },
    forbidden: {
      title: 'Ce lien de paiement n’est pas valide',
      text: 'Revenez au jeu pour recommencer le paiement.',
    },
    notFound: {
      title: 'Paiement introuvable',
      text: 'Revenez au jeu pour recommencer le paiement.',
    },
    unavailable: {
      title: 'La caisse est momentanément indisponible',
      text: 'Veuillez réessayer dans un instant.',
    },
  },
};

const de: Messages = {
  title: 'Kasse',
  order: 'Bestellung',
  amount: 'Betrag',
  card: 'Karte',
  cardHint:
    'Testkarten des Kartensimulators: Das Token ist, was das Kartenfeld eines PSP liefern würde.',
  cards: {
    tok_ok: 'Karte akzeptiert',
    tok_declined: 'Karte abgelehnt',
    tok_insufficient: 'Nicht ausreichend gedeckt',
    tok_3ds: 'Karte mit 3-D-Secure-Authentifizierung',
  },
  pay: '{amount} bezahlen',
  paying: 'Zahlung läuft…',
  status: {
    REQUIRES_ACTION: 'Wartet auf Ihre Karte',
    PROCESSING: 'Ihre Zahlung wird verarbeitet…',
    SUCCEEDED: 'Zahlung erfolgreich',
    FAILED: 'Zahlung fehlgeschlagen',
    CANCELED: 'Zahlung storniert',
  },
  checking: 'Ihre Zahlung wird geprüft…',
  authenticate: 'Weiter zur Authentifizierung Ihrer Bank',
  consent: 'Zustimmungsseite Ihres Mobilfunkanbieters öffnen',
  done: 'Sie können diese Seite schließen und zum Spiel zurückkehren.',
  reasons: {
    INSUFFICIENT_FUNDS: 'Ihre Karte ist nicht ausreichend gedeckt.',
    DENIED: 'Ihre Bank hat die Zahlung abgelehnt.',
    LIMIT_EXCEEDED: 'Ein Ausgabenlimit wurde erreicht.',
    INVALID_OTP: 'Der Bestätigungscode war zu oft falsch.',
    CONSENT_EXPIRED: 'Die Bestätigung erfolgte nicht rechtzeitig.',
    CHANNEL_UNAVAILABLE:
      'Der Zahlungsdienst ist nicht verfügbar. Bitte versuchen Sie es später erneut.',
    CANCELED_BY_USER: 'Sie haben die Zahlung abgebrochen.',
    OTHER: 'Die Zahlung konnte nicht abgeschlossen werden.',
  },
  reconnecting: 'Verbindung unterbrochen, neuer Versuch…',
  payError: 'Die Zahlung konnte nicht gesendet werden. Bitte versuchen Sie es erneut.',
  notWaiting: 'Diese Zahlung wartet nicht mehr auf eine Karte.',
  errors: {
    expired: {
      title: 'Dieser Zahlungslink ist abgelaufen',
      text: 'Kehren Sie zum Spiel zurück, um die Zahlung erneut zu starten.',
    },
    invalid: {
      title: 'Dieser Zahlungslink ist ungültig',
      text: 'Kehren Sie zum Spiel zurück, um die Zahlung erneut zu starten.',
    },
    forbidden: {
      title: 'Dieser Zahlungslink ist ungültig',
      text: 'Kehren Sie zum Spiel zurück, um die Zahlung erneut zu starten.',
    },
    notFound: {
      title: 'Zahlung nicht gefunden',
      text: 'Kehren Sie zum Spiel zurück, um die Zahlung erneut zu starten.',
    },
    unavailable: {
      title: 'Die Kasse ist vorübergehend nicht verfügbar',
      text: 'Bitte versuchen Sie es gleich noch einmal.',
    },
  },
};

export const MESSAGES: Record<Language, Messages> = { en, fr, de };

/** The first of `locales` (BCP 47 tags, best first) whose language the cash desk speaks; else en. */
export function pickLanguage(...locales: (string | null | undefined)[]): Language {
  for (const locale of locales) {
    const primary = locale?.trim().split(/[-_]/)[0]?.toLowerCase();
    if (primary && (LANGUAGES as readonly string[]).includes(primary)) return primary as Language;
  }
  return 'en';
}

/** The tags of an Accept-Language header, best first (q=0 dropped); at most 10. */
export function acceptedLanguages(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .slice(0, 10)
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params
        .map((p) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(p)?.[1])
        .find((v) => v !== undefined);
      return { tag: tag?.trim() ?? '', q: q === undefined ? 1 : Number(q), index };
    })
    .filter(
      (l) => l.tag && l.tag !== '*' && l.q > 0 && /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/.test(l.tag),
    )
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((l) => l.tag);
}

/** The readable reason of a failure code; unknown codes get the generic one. */
export function failureReason(messages: Messages, code: string | null | undefined): string {
  return (FAILURE_CODES as readonly string[]).includes(code ?? '')
    ? messages.reasons[code as FailureCode]
    : messages.reasons.OTHER;
}
