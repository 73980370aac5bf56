import express from 'express';

/** JSON body limit: the largest namespace payload plus room for a 100-message batch envelope. */
export const JSON_BODY_LIMIT = '1mb';

export const jsonBody = express.json({ limit: JSON_BODY_LIMIT, strict: true, type: ['application/json', 'application/*+json'] });
export const formBody = express.urlencoded({ limit: '16kb', extended: false });
