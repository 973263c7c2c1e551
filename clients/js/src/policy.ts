/** What to do after a WebSocket closes, from the server's close-code table (x-close-codes). */
import { CLOSE_CODES, type CloseAction, type CloseCodeInfo } from "./generated/protocol.js";

/**
 * - `stop`: do not reconnect (1000, 1008, 4400, 4403, 4404…);
 * - `reconnect`: reconnect with `since` after a backoff delay (1001, 1006, 1011, 4408, 4508…);
 * - `backoff`: reconnect after a long delay (4429);
 * - `relogin`: refresh the access token, then reconnect (4401).
 */
export type { CloseAction, CloseCodeInfo };

const ABNORMAL: CloseCodeInfo = {
  meaning: "connection lost without a close frame",
  clientShould: "reconnect with since, with backoff",
  action: "reconnect",
};

/** The close code's meaning, advice and action. Codes the table does not list (1005, 1006,
 * 1012 service restart, 1013 try again later…) are reconnected with backoff. */
export function describeClose(code: number): CloseCodeInfo {
  const known = CLOSE_CODES[code];
  if (known) return known;
  if (code === 1006) return ABNORMAL;
  return {
    meaning: `closed with code ${code}`,
    clientShould: "reconnect with since, with backoff",
    action: "reconnect",
  };
}

export function closeAction(code: number): CloseAction {
  return describeClose(code).action;
}
