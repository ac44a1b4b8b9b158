import {
  Kind,
  type DocumentNode,
  type ExecutionResult,
  type FieldNode,
  type OperationDefinitionNode,
} from 'graphql';
import { notFound, type Principal } from '@coinslot/kernel';
import { cashDeskScope } from './token';

/**
 * Whether `principal` may run this re-read (graphql-ws serves subscriptions by re-reading
 * through the gateway). Every principal may, except a cash-desk one: it may only read
 * `payment(id:)` of the payment its token was minted for — one query, one root field, no
 * fragments at the root. The payment's own selection (its player, say) stays within billing's
 * and accounts' player visibility.
 */
export function cashDeskMayRead(
  principal: Principal,
  document: DocumentNode,
  variables: Record<string, unknown>,
): boolean {
  const paymentId = cashDeskScope(principal);
  if (paymentId === undefined) return true;
  const ops = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  if (ops.length !== 1 || ops[0]!.operation !== 'query') return false;
  const roots = ops[0]!.selectionSet.selections;
  if (roots.length !== 1 || roots[0]!.kind !== Kind.FIELD) return false;
  const field = roots[0] as FieldNode;
  if (field.name.value !== 'payment' || field.arguments?.length !== 1) return false;
  const arg = field.arguments[0]!;
  if (arg.name.value !== 'id') return false;
  const value =
    arg.value.kind === Kind.VARIABLE
      ? variables[arg.value.name.value]
      : arg.value.kind === Kind.STRING
        ? arg.value.value
        : undefined;
  return value === paymentId;
}

/** What a refused re-read answers: the same as a payment that is not the caller's. */
export function notThisPayment(): ExecutionResult {
  return { errors: [notFound('Payment')] };
}
