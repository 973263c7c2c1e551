/** onetask-client: the official TypeScript client of the OneTask real-time task API. */
export { OneTaskClient, channelPath, isRetryable } from "./client.js";
export type { ClientOptions, RequestOptions, ChannelSpec } from "./client.js";
export { Subscription } from "./subscription.js";
export type {
  CloseInfo,
  Lifecycle,
  SubscriptionHandlers,
  SubscriptionOptions,
  SubscriptionState,
  WebSocketConstructor,
  WebSocketLike,
} from "./subscription.js";
export { ApiError, AuthRequiredError, NetworkError } from "./errors.js";
export { backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { closeAction, describeClose } from "./policy.js";
export { MemoryQueueStorage, webStorageQueue } from "./queue.js";
export type { KeyValueStore, QueueEvent, QueueStorage, QueuedWrite } from "./queue.js";
export type * from "./types.js";
export {
  CHANNEL_ADDRESSES,
  CLOSE_CODES,
  PROTOCOL_VERSION,
  RESYNC_REASONS,
} from "./generated/protocol.js";
export type {
  Auth,
  AuthOk,
  AuthOkData,
  ChannelId,
  CloseAction,
  CloseCodeInfo,
  Connected,
  ConnectedData,
  Error as ErrorMessage,
  ErrorData,
  FocusData,
  FocusParticipantSummary,
  FocusSessionClientMessage,
  FocusSessionServerMessage,
  FocusTimer,
  FocusUpdate,
  FocusUser,
  NotificationData,
  NotificationMessage,
  NotificationRead,
  NotificationReadData,
  NotificationsClientMessage,
  NotificationsServerMessage,
  Ping,
  Pong,
  ResyncRequired,
  ResyncRequiredData,
  SetTask,
  StatusChange,
  TaskData,
  TaskUpdate,
  WorkspaceTasksClientMessage,
  WorkspaceTasksServerMessage,
} from "./generated/protocol.js";
