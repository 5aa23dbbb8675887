// The shape of one connector definition, after loading and validation (see schema.ts).

export type AuthType = 'oauth2' | 'apiKey' | 'basic' | 'custom' | 'none';
export type OAuthGrantType = 'authorization_code' | 'client_credentials' | 'password';

export type FormFieldType =
  | 'text' | 'checkbox' | 'tel' | 'email' | 'url' | 'textarea' | 'select' | 'filtered-select'
  | 'multi-select' | 'datetime' | 'date' | 'time' | 'number' | 'password';

export interface SimpleFormFieldOption {
  label: string;
  value: string | number | boolean | Array<string | number>;
  option_type: 'simple';
}
export interface FormFieldOptionGroup {
  id?: string;
  label: string;
  options: SimpleFormFieldOption[];
  option_type: 'group';
}
export type FormFieldOption = SimpleFormFieldOption | FormFieldOptionGroup;

/** Apideck's FormField model (the settings form a consumer fills in). */
export interface FormField {
  id: string;
  label: string;
  placeholder?: string | null;
  description?: string | null;
  type: FormFieldType;
  required?: boolean;
  custom_field?: boolean;
  allow_custom_values?: boolean;
  disabled?: boolean | null;
  hidden?: boolean | null;
  deprecated?: boolean | null;
  sensitive?: boolean | null;
  prefix?: string | null;
  suffix?: string | null;
  options?: FormFieldOption[];
  default_value?: string | number | boolean | null;
}

export interface OAuthSettings {
  grant_type: OAuthGrantType;
  /** May contain `{setting}` placeholders filled from the connection's settings (e.g. `{subdomain}`). */
  authorization_url?: string;
  token_url: string;
  revocation_url?: string;
  /** Issuer identifier for the RFC 9207 `iss` check; defaults to the origin of `authorization_url`. */
  issuer?: string;
  iss_parameter_supported?: boolean;
  scopes: string[];
  scope_separator: string;
  pkce: boolean;
  authorize_params: Record<string, string>;
  token_params: Record<string, string>;
  client_auth: 'client_secret_basic' | 'client_secret_post';
  /** False: the authorization may be completed in another browser than the one that started it. Default true. */
  browser_binding?: boolean;
}

export type ProxyInjection =
  | { type: 'bearer'; value: string }
  | { type: 'header'; name: string; value: string }
  | { type: 'query'; name: string; value: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'none' };

export interface ProxySettings {
  /** Templated like OAuth URLs; e.g. `https://{subdomain}.zendesk.com/api/v2`. */
  base_url: string;
  /** Values are templates: `{access_token}`, `{api_key}`, any setting id. */
  auth: ProxyInjection;
  /** Further headers every call carries; values are templates. */
  headers?: Record<string, string>;
}

export interface VerificationRequest {
  method: 'GET' | 'POST' | 'HEAD';
  path: string;
  success_statuses: number[];
}

export interface CustomFieldDefinition {
  id: string;
  name: string | null;
  description: string | null;
  /** JSONPath into the provider's record. */
  finder: string;
}

export interface ResourceDefinition {
  name?: string;
  /** The provider's name for the resource (e.g. Salesforce `Lead`), served as `downstream_id` by `…/{resource}/example`. */
  downstream_id?: string;
  downstream_name?: string;
  /** JSON Schema of the resource, served by `…/{resource}/schema`. */
  schema?: Record<string, unknown>;
  /** A sample record, served by `…/{resource}/example`. */
  example?: Record<string, unknown>;
  /** Resource settings with defaults, served by `…/{resource}/config`. */
  settings?: FormField[];
  custom_fields?: CustomFieldDefinition[];
  custom_fields_discovery?: CustomFieldDiscovery;
}

export interface CustomFieldDiscovery {
  method: 'GET' | 'POST';
  path: string;
  items: string;
  id: string;
  name?: string;
  description?: string;
  finder: string;
}

export interface ConnectorDefinition {
  id: string;
  name: string;
  tag_line: string;
  website: string;
  icon: string;
  logo: string;
  status: 'live' | 'upcoming' | 'requested';
  unified_apis: string[];
  auth_type: AuthType;
  /**
   * Hosts that URLs whose host comes from settings may point at (`gitlab.com`, `*.docusign.net`; `*` = any, never
   * for OAuth endpoints), plus those an operator adds with COFFER_PROVIDER_HOSTS.
   */
  hosts: string[];
  oauth?: OAuthSettings;
  form_fields: FormField[];
  settings_required_for_authorization: string[];
  resources: Record<string, ResourceDefinition>;
  proxy?: ProxySettings;
  verification?: VerificationRequest;
  migration_targets: string[];
  has_guide: boolean;
  /** Where it was loaded from (file path), for error messages. */
  source: string;
}
