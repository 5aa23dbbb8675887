// oidc-provider ships no types; tests use it loosely.
declare module 'oidc-provider';
