/**
 * The review worker thread (started by ReviewWorkerPool, review-pool.ts): the
 * same answerReview() the server runs in-thread, for reviews large enough to
 * block the event loop. The webhook config comes as workerData; each answer
 * goes back already serialised, its bytes transferred.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { answerReview } from './review-answer.js';
import type { ReviewJobMessage, WorkerData, WorkerReply } from './review-pool.js';

const port = parentPort;
if (!port) throw new Error('review-worker runs as a worker thread (started by ReviewWorkerPool)');
const { config } = workerData as WorkerData;
const encoder = new TextEncoder();

port.on('message', (job: ReviewJobMessage) => {
  const answer = answerReview(job.body, config, job.kind, job.ctx);
  // TextEncoder gives a fresh ArrayBuffer of its own (Buffer.from may share Node's pool), so it can be transferred.
  const reply: WorkerReply = { ...answer, json: encoder.encode(answer.json) };
  port.postMessage(reply, [reply.json.buffer as ArrayBuffer]);
});
