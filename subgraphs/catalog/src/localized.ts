import { Arg, Field, InputType, ObjectType } from 'type-graphql';
import { assertLocale, badInput } from '@coinslot/kernel';
import type { LocalizedNames } from './entities';

@ObjectType('LocalizedString')
export class LocalizedString {
  @Field(() => String, { description: 'BCP 47 tag, e.g. "fr" or "pt-BR".' }) locale!: string;
  @Field(() => String) value!: string;
}

@InputType('LocalizedStringInput')
export class LocalizedStringInput {
  @Field(() => String, { description: 'BCP 47 tag, e.g. "fr" or "pt-BR".' }) locale!: string;
  @Field(() => String) value!: string;
}

const MAX_NAME_LENGTH = 200;

/** Validates names from client input into the stored map (keys in canonical BCP 47 form). */
export function namesFromInput(
  input: readonly LocalizedStringInput[] | null | undefined,
  field = 'names',
  { required = true }: { required?: boolean } = {},
): LocalizedNames {
  const names: LocalizedNames = {};
  for (const [i, entry] of (input ?? []).entries()) {
    const locale = assertLocale(entry.locale, `${field}[${i}].locale`);
    const value = entry.value.trim();
    if (!value || value.length > MAX_NAME_LENGTH) {
      throw badInput(`Names must be 1 to ${MAX_NAME_LENGTH} characters.`, `${field}[${i}].value`);
    }
    if (locale in names)
      throw badInput(`The locale "${locale}" is given twice.`, `${field}[${i}].locale`);
    names[locale] = value;
  }
  if (required && Object.keys(names).length === 0) {
    throw badInput('Give at least one name (an "en" one is the fallback for every locale).', field);
  }
  return names;
}

const language = (tag: string) => tag.split('-')[0]!.toLowerCase();

/**
 * Picks the text for a locale: the exact tag, then the tag's language ("fr" for "fr-CA", or
 * another tag of that language), then English, then any (the first in tag order).
 * Invalid locale arguments are BAD_USER_INPUT on `locale`.
 */
export function pickLocalized(
  names: LocalizedNames,
  locale: string | null | undefined,
): string | null {
  const tags = Object.keys(names).sort();
  if (tags.length === 0) return null;
  const candidates: string[] = [];
  if (locale != null) {
    const tag = assertLocale(locale, 'locale');
    const lang = language(tag);
    candidates.push(tag, lang, ...tags.filter((t) => language(t) === lang));
  }
  candidates.push('en', ...tags.filter((t) => language(t) === 'en'), tags[0]!);
  for (const c of candidates) {
    const value = names[c];
    if (value !== undefined) return value;
  }
  return null;
}

/**
 * Base of every type with localised names (Product, ProductVariant, Service, Plan, Country):
 * `name(locale)` and the full `names` list. Registered only so subclasses inherit its fields;
 * nothing refers to it, so it never appears in the schema.
 */
@ObjectType('LocalizedBase')
export abstract class Localized {
  localizedNames!: LocalizedNames;

  @Field(() => String, {
    description:
      'The name in `locale` (BCP 47), falling back to its language, then English, then any.',
  })
  name(
    @Arg('locale', () => String, { nullable: true, description: 'BCP 47 tag, e.g. "fr-FR".' })
    locale?: string | null,
  ): string {
    return pickLocalized(this.localizedNames, locale) ?? this.fallbackName();
  }

  @Field(() => [LocalizedString], { description: 'Every translation of the name.' })
  names(): LocalizedString[] {
    return Object.keys(this.localizedNames)
      .sort()
      .map((locale) =>
        Object.assign(new LocalizedString(), { locale, value: this.localizedNames[locale] }),
      );
  }

  /** When no name was given at all (bulk-created variants): a stable identifier. */
  protected abstract fallbackName(): string;
}
