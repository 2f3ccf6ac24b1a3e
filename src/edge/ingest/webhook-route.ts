/**
 * POST /v1/webhooks/index: signed upserts and deletes (docs/ingest.md). The body is read raw
 * (the signature covers its exact bytes), so the route is documented in the OpenAPI registry but
 * validated by ./webhook.ts rather than by a zod-openapi validator, which would parse it first.
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import { WebhookBodySchema } from '../../core/contract/ingest-schemas';
import { INGEST_LIMITS } from '../../core/contract/limits';
import { SIGNATURE_HEADER } from '../../core/contract/webhook-signature';
import { WEBHOOK } from '../docs/examples';
import type { AppEnv } from '../env';
import { limitBody } from '../http/body-limit';
import { validationHook } from '../http/errors';
import { errorResponse } from '../http/openapi';
import { ingestEvents } from './ingest';
import { checkDelivery, forgetDelivery, webhookEvents } from './webhook';

const PATH = '/v1/webhooks/index';

export const WebhookAcceptedSchema = z
  .object({
    accepted: z.number().int(),
    events: z.array(
      z.object({
        id: z.string(),
        op: z.enum(['upsert', 'delete']),
        seq: z.number().int(),
        collection: z.string(),
      }),
    ),
  })
  .openapi('WebhookAccepted');

const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

app.openAPIRegistry.registerPath({
  method: 'post',
  path: PATH,
  summary: 'Upsert or delete indexed images (signed webhook)',
  description:
    `Signed with \`${SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>\` ` +
    '(several `v1=` during a secret rotation; 300 s tolerance; a signature is accepted once). ' +
    `At most ${INGEST_LIMITS.events} events and ${INGEST_LIMITS.bodyBytes} bytes per call. ` +
    'Answers 202 once every event is accepted by its index and every upsert is queued; a delete ' +
    'takes effect before the answer. An upsert is embedded by the queue consumer; follow it with ' +
    '`GET /v1/images/{id}`.',
  request: {
    headers: z.object({ [SIGNATURE_HEADER]: z.string() }),
    body: {
      required: true,
      content: {
        'application/json': {
          schema: WebhookBodySchema,
          example: {
            events: [
              {
                op: 'upsert',
                id: 'sku-1042',
                collection: 'products',
                image_url: 'https://cdn.example.com/sku-1042.jpg',
                metadata: { colour: 'red', price: 12000 },
                caption: '빨간 운동화',
              },
              { op: 'upsert', id: 'sku-1043', r2_key: 'uploads/sku-1043.png' },
              { op: 'delete', id: 'sku-0999', collection: 'products' },
            ],
          },
        },
      },
    },
  },
  responses: {
    202: {
      description: 'Accepted and queued',
      content: { 'application/json': { schema: WebhookAcceptedSchema, example: WEBHOOK.accepted } },
    },
    400: errorResponse('The body is not JSON or an event is invalid (`invalid_request`, naming the field)'),
    401: errorResponse('`invalid_signature` (missing, malformed, no match) or `stale_signature`'),
    409: errorResponse('`replayed`: this signature was already delivered; nothing changed'),
    413: errorResponse('Body too large'),
    503: errorResponse('Not configured, or the index or queue is unavailable: retry'),
  },
});

app.post(PATH, limitBody(INGEST_LIMITS.bodyBytes), async (c) => {
  // The signature covers the request's bytes as received; they are decoded only once it holds.
  const raw = new Uint8Array(await c.req.arrayBuffer());
  const signature = await checkDelivery(c.env, c.req.header(SIGNATURE_HEADER), raw);
  const events = webhookEvents(raw);
  let accepted: Awaited<ReturnType<typeof ingestEvents>>;
  try {
    accepted = await ingestEvents(c.env, events);
  } catch (error) {
    // Our failure, not the sender's: let the very same delivery be retried.
    await forgetDelivery(c.env, signature);
    throw error;
  }
  return c.json({ accepted: accepted.length, events: accepted }, 202);
});

export default app;
