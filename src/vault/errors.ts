// Domain errors carry the Apideck error type they map to; http/ turns them into the envelope.

export class VaultError extends Error {
  constructor(
    readonly statusCode: number,
    readonly typeName: string,
    message: string,
    readonly detail?: string | Record<string, unknown>,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, detail?: string | Record<string, unknown>) =>
  new VaultError(400, 'RequestValidationError', message, detail ?? message);

export const notFound = (entity: string, id: string) =>
  new VaultError(404, 'EntityNotFoundError', `Could not find ${entity} with id: '${id}'`, { not_found: { entity, id } });

export const conflict = (message: string) => new VaultError(409, 'ConflictError', message, message);

export const unprocessable = (message: string) => new VaultError(422, 'InvalidStateError', message, message);

export const unauthorized = (detail: string) => new VaultError(401, 'UnauthorizedError', 'Unauthorized Request', detail);

export const forbidden = (detail: string) => new VaultError(403, 'ForbiddenError', 'Forbidden', detail);

export const notImplemented = (message: string) => new VaultError(501, 'NotImplementedError', message, message);

/** The provider refused the consumer's credentials; `detail` carries its own message. */
export const credentialsRejected = (connector: string, status: number, providerMessage: string) =>
  new VaultError(422, 'InvalidCredentialsError', `${connector} rejected the credentials (HTTP ${status})`, providerMessage);

export const tooManyRequests = (message: string, detail: Record<string, unknown>) => new VaultError(429, 'TooManyRequestsError', message, detail);
