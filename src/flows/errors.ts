// Failures of the Flows Vault API, carrying what Auth0's error body needs; http/ renders them.

export class FlowsError extends Error {
  constructor(
    readonly statusCode: number,
    /** Auth0's machine-readable `errorCode`. */
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

/** A body or setup that fails validation; the message names the field, never its value. */
export const invalidBody = (message: string) => new FlowsError(400, 'invalid_body', `Payload validation error: ${message}`);

export const invalidQuery = (message: string) => new FlowsError(400, 'invalid_query_string', `Query validation error: ${message}`);

export const connectionNotFound = () => new FlowsError(404, 'inexistent_flows_vault_connection', 'Connection not found');

export const invalidToken = (message: string) => new FlowsError(401, 'invalid_token', message);

export const insufficientScope = (expected: string[]) =>
  new FlowsError(403, 'insufficient_scope', `Insufficient scope; expected any of: ${expected.join(',')}.`);
