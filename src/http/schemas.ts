// Request schemas, following the Apideck Vault spec (additionalProperties: false where the spec says so).
import { Type, type TSchema } from '@sinclair/typebox';
import { MAX_ID_LENGTH } from './input-bounds.js';
import { UNIFIED_APIS } from '../vault/integrations.js';
import { MAX_THEME_URL, MAX_VAULT_NAME } from '../vault/theme.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** An id a caller chooses; bounded like the ids in paths and headers. */
const Id = () => Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH });

export const ConsumerMetadata = Type.Object({
  account_name: Type.Optional(Type.String()),
  user_name: Type.Optional(Type.String()),
  email: Type.Optional(Type.String()),
  image: Type.Optional(Type.String()),
});

export const CreateConsumerRequest = Type.Object(
  { consumer_id: Id(), metadata: Type.Optional(ConsumerMetadata) },
  { additionalProperties: false },
);

export const UpdateConsumerRequest = Type.Object({ metadata: Type.Optional(ConsumerMetadata) }, { additionalProperties: false });

const SettingValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null(), Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]))]);

const ConsentResources = Type.Union([Type.Literal('*'), Type.Record(Type.String(), Type.Unknown())]);

/** Connection as a write body: read-only fields may be sent back and are ignored. */
export const ConnectionBody = Type.Object({
  enabled: Type.Optional(Type.Boolean()),
  settings: Type.Optional(Nullable(Type.Record(Type.String(), SettingValue))),
  metadata: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
  configuration: Type.Optional(
    Type.Array(
      Type.Object({
        resource: Type.Optional(Type.String()),
        defaults: Type.Optional(Type.Array(Type.Object({ id: Type.Optional(Type.String()), value: Type.Optional(Type.Unknown()) }))),
      }),
    ),
  ),
  custom_mappings: Type.Optional(Type.Array(Type.Object({ id: Type.Optional(Type.String({ maxLength: MAX_ID_LENGTH })), value: Type.Optional(Type.String()) }))),
  consent_state: Type.Optional(
    Type.Union(['implicit', 'pending', 'granted', 'denied', 'revoked', 'requires_reconsent'].map((s) => Type.Literal(s))),
  ),
  latest_consent: Type.Optional(Type.Object({ granted: Type.Optional(Type.Boolean()), resources: Type.Optional(ConsentResources) })),
  application_data_scopes: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()), resources: Type.Optional(ConsentResources) })),
});

export const ConnectionImportData = Type.Object({
  credentials: Type.Optional(
    Type.Object(
      {
        access_token: Type.Optional(Type.String()),
        refresh_token: Type.Optional(Nullable(Type.String())),
        issued_at: Type.Optional(Nullable(Type.String())),
        expires_in: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
      },
      { additionalProperties: false },
    ),
  ),
  settings: Type.Optional(Nullable(Type.Record(Type.String(), SettingValue))),
  metadata: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
});

export const ConnectionMigrateData = Type.Object({ target_service_id: Id() });

/** `…/token` and `…/validate`: no properties allowed; an empty body is fine. */
// Nullable: fastify validates a missing body as `null`, and the SDKs send none.
export const EmptyBody = Type.Optional(Nullable(Type.Object({}, { additionalProperties: false })));

export const UpdateConsentRequest = Type.Object(
  { granted: Type.Boolean(), resources: ConsentResources },
  { additionalProperties: false },
);

export const ConfirmConnection = Type.Object({ confirm_token: Type.String({ minLength: 1 }) });

export const CreateCallbackState = Type.Object({ redirect_uri: Type.Optional(Type.String()) });

export const CustomMappingRequest = Type.Object({ value: Type.String({ minLength: 1 }) }, { additionalProperties: false });

const str = Type.Optional(Type.String());
const themeUrl = Type.Optional(Type.String({ maxLength: MAX_THEME_URL }));
const themeColour = Type.Optional(Type.String({ maxLength: 64 }));
export const SessionRequest = Type.Optional(Nullable(
  Type.Object(
    {
      consumer_metadata: Type.Optional(ConsumerMetadata),
      redirect_uri: str,
      settings: Type.Optional(
        Type.Object(
          {
            unified_apis: Type.Optional(Type.Array(Type.Union(UNIFIED_APIS.map((a) => Type.Literal(a))))),
            hide_resource_settings: Type.Optional(Type.Boolean()),
            sandbox_mode: Type.Optional(Type.Boolean()),
            isolation_mode: Type.Optional(Type.Boolean()),
            session_length: str,
            show_logs: Type.Optional(Type.Boolean()),
            show_suggestions: Type.Optional(Type.Boolean()),
            show_sidebar: Type.Optional(Type.Boolean()),
            auto_redirect: Type.Optional(Type.Boolean()),
            hide_guides: Type.Optional(Type.Boolean()),
            allow_actions: Type.Optional(Type.Array(Type.Union(['delete', 'disconnect', 'reauthorize', 'disable'].map((a) => Type.Literal(a))))),
            oauth_browser_binding: Type.Optional(
              Type.Boolean({ description: 'Coffer extension: false lets OAuth flows complete in another browser than the one that started them. Default true.' }),
            ),
          },
          { additionalProperties: false },
        ),
      ),
      // Values are checked against a strict grammar in the domain (vault/theme.ts); unknown keys are refused here.
      theme: Type.Optional(
        Type.Object(
          {
            favicon: themeUrl,
            logo: themeUrl,
            primary_color: themeColour,
            sidepanel_background_color: themeColour,
            sidepanel_text_color: themeColour,
            vault_name: Type.Optional(Type.String({ maxLength: MAX_VAULT_NAME })),
            privacy_url: themeUrl,
            terms_url: themeUrl,
          },
          { additionalProperties: false },
        ),
      ),
      custom_consumer_settings: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    },
    { additionalProperties: false },
  ),
));

export const ConnectionParams = Type.Object({ unified_api: Type.String(), service_id: Type.String() });
export const ResourceParams = Type.Object({ unified_api: Type.String(), service_id: Type.String(), resource: Type.String() });
export const TargetFieldParams = Type.Object({ unified_api: Type.String(), service_id: Type.String(), target_field_id: Type.String() });
export const ConsumerParams = Type.Object({ consumer_id: Type.String() });

const WebhookStatus = Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]);
const WebhookEvents = Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 100 });

export const CreateWebhookRequest = Type.Object(
  {
    description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    unified_api: Type.String({ minLength: 1 }),
    status: Type.Optional(WebhookStatus),
    delivery_url: Type.String({ minLength: 1, maxLength: 2048 }),
    events: WebhookEvents,
  },
  { additionalProperties: false },
);

export const UpdateWebhookRequest = Type.Object(
  {
    description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    unified_api: Type.Optional(Type.String({ minLength: 1 })),
    status: Type.Optional(WebhookStatus),
    delivery_url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
    events: Type.Optional(WebhookEvents),
  },
  { additionalProperties: false },
);

export const WebhookParams = Type.Object({ id: Type.String({ minLength: 1 }) });
