import { Directive, Field, ID, ObjectType } from 'type-graphql';

@Directive('@key(fields: "id")')
@ObjectType('Channel')
export class Channel {
  @Field(() => ID) id!: string;
}
