// The access-code claim route announced for the accounts/exam security change, declared here
// until the merged spec (portal/openapi.json) carries it. Remove this file when it does: the
// duplicate declaration then fails `tsc`.
import type { components } from './schema';

type Problem = { content: { 'application/problem+json': components['schemas']['Problem'] } };

declare module './schema' {
  interface paths {
    '/v1/exams:claim': {
      parameters: { query?: never; header?: never; path?: never; cookie?: never };
      get?: never;
      put?: never;
      post: {
        parameters: { query?: never; header?: never; path?: never; cookie?: never };
        requestBody: { content: { 'application/json': { accessCode: string } } };
        responses: {
          200: { headers: { [name: string]: unknown }; content: { 'application/json': components['schemas']['ExamResponse'] } };
          400: { headers: { [name: string]: unknown } } & Problem;
          403: { headers: { [name: string]: unknown } } & Problem;
          429: { headers: { [name: string]: unknown } } & Problem;
        };
      };
      delete?: never;
      options?: never;
      head?: never;
      patch?: never;
      trace?: never;
    };
  }
}
