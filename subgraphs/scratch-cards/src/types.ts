import { Directive, Field, ID, ObjectType } from 'type-graphql';

// Scratch cards owns these entities; their fields and mutations arrive with the scratch-cards issue.

@Directive('@key(fields: "id")')
@ObjectType('ScratchCardBatch')
export class ScratchCardBatch {
  @Field(() => ID) id!: string;
}

@Directive('@key(fields: "id")')
@ObjectType('ScratchCard')
export class ScratchCard {
  @Field(() => ID) id!: string;
}
