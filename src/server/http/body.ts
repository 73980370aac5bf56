import express, { type RequestHandler } from 'express';

/** JSON body limit: the largest namespace payload plus room for a 100-message batch envelope. */
export const JSON_BODY_LIMIT = '1mb';

export const jsonBody: RequestHandler = express.json({ limit: JSON_BODY_LIMIT, strict: true, type: ['application/json', 'application/*+json'] });
export const formBody: RequestHandler = express.urlencoded({ limit: '16kb', extended: false });
