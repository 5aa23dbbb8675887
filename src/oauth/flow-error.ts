// A browser-facing OAuth failure: shown as a page, never turned into a redirect to an unchecked URL.

export class OAuthFlowError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const invalidRequest = (code: string, message: string) => new OAuthFlowError(400, code, message);
