import { Migration } from '@coinslot/kernel';

/**
 * Reference data: mobile operators (MCC-MNC) and MSISDN prefixes of the four demo countries.
 * Routing takes the longest matching prefix. The country-wide prefixes have no operator, so a
 * number outside the listed blocks still routes by country to channels that are not bound to
 * an operator. The blocks holding the simulator test numbers (CONTRACT.md) are listed first.
 */
const OPERATORS: [code: string, name: string, country: string][] = [
  ['208-01', 'Orange France', 'FR'],
  ['208-10', 'SFR', 'FR'],
  ['208-15', 'Free Mobile', 'FR'],
  ['208-20', 'Bouygues Telecom', 'FR'],
  ['262-01', 'Telekom Deutschland', 'DE'],
  ['262-02', 'Vodafone Deutschland', 'DE'],
  ['262-03', 'Telefónica Germany (O2)', 'DE'],
  ['234-10', 'O2 UK', 'GB'],
  ['234-15', 'Vodafone UK', 'GB'],
  ['234-20', 'Three UK', 'GB'],
  ['234-30', 'EE', 'GB'],
  ['310-260', 'T-Mobile US', 'US'],
  ['310-410', 'AT&T Mobility', 'US'],
  ['311-480', 'Verizon Wireless', 'US'],
];

const RANGES: [prefix: string, country: string, operator: string | null, description: string][] = [
  // Test numbers of the simulators: +336123456NN, +4915112345 6NN, +4477009000NN / …01NN, +120255501NN.
  ['+33612', 'FR', '208-01', 'Orange France mobile block (simulator test numbers +336123456NN)'],
  ['+33660', 'FR', '208-10', 'SFR mobile block'],
  ['+33650', 'FR', '208-20', 'Bouygues Telecom mobile block'],
  ['+33695', 'FR', '208-15', 'Free Mobile mobile block'],
  ['+336', 'FR', null, 'France mobile (06)'],
  ['+337', 'FR', null, 'France mobile (07)'],
  ['+33', 'FR', null, 'France'],
  ['+49151', 'DE', '262-01', 'Telekom Deutschland mobile (0151)'],
  ['+49160', 'DE', '262-01', 'Telekom Deutschland mobile (0160)'],
  ['+49152', 'DE', '262-02', 'Vodafone Deutschland mobile (0152)'],
  ['+49162', 'DE', '262-02', 'Vodafone Deutschland mobile (0162)'],
  ['+49176', 'DE', '262-03', 'O2 Germany mobile (0176)'],
  ['+49179', 'DE', '262-03', 'O2 Germany mobile (0179)'],
  ['+49', 'DE', null, 'Germany'],
  ['+447700900', 'GB', '234-30', 'Ofcom drama range 07700 900xxx (simulator test numbers)'],
  ['+4477', 'GB', '234-10', 'O2 UK mobile block (077)'],
  ['+4478', 'GB', '234-15', 'Vodafone UK mobile block (078)'],
  ['+4479', 'GB', '234-20', 'Three UK mobile block (079)'],
  ['+4474', 'GB', '234-30', 'EE mobile block (074)'],
  ['+447', 'GB', null, 'United Kingdom mobile (07)'],
  ['+44', 'GB', null, 'United Kingdom'],
  ['+1202555', 'US', '310-410', 'Washington DC 555 fictional block (simulator test numbers)'],
  ['+1212', 'US', '311-480', 'New York (212)'],
  ['+1415', 'US', '310-260', 'San Francisco (415)'],
  ['+1', 'US', null, 'North American Numbering Plan (taken as US)'],
];

const lit = (s: string | null) => (s === null ? 'null' : `'${s.replace(/'/g, "''")}'`);

export class Migration20261122000100 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `insert into channels.operator (code, name, country) values ` +
        OPERATORS.map(([c, n, k]) => `(${lit(c)}, ${lit(n)}, ${lit(k)})`).join(', '),
    );
    this.addSql(
      `insert into channels.number_range (prefix, country, operator_code, description) values ` +
        RANGES.map(([p, c, o, d]) => `(${lit(p)}, ${lit(c)}, ${lit(o)}, ${lit(d)})`).join(', '),
    );
  }
}
