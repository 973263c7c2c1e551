/** REST shapes (the server's OpenAPI document at /openapi.json has every field). The
 * WebSocket message types are generated: see ./generated/protocol.ts. */
import type { NotificationData, TaskData, FocusTimer, FocusUser } from "./generated/protocol.js";

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  /** Lifetime of the access token, in seconds. */
  expires_in: number;
}

export interface User {
  id: number;
  email: string;
  username: string;
  full_name: string | null;
  timezone: string;
  created_at: string;
}

export interface Workspace {
  id: number;
  name: string;
  role: string;
  [field: string]: unknown;
}

export type TaskStatus = "todo" | "in_progress" | "done";
export type TaskPriority = "low" | "medium" | "high";

/** A task as REST returns it (the `task_update` data carries the same fields and `actor_id`). */
export type Task = Omit<TaskData, "actor_id">;

export interface TaskInput {
  title: string;
  description?: string | null;
  status?: TaskStatus | string;
  priority?: TaskPriority | string;
  due_date?: string | null;
  assignee_id?: number | null;
}

export type TaskPatch = Partial<TaskInput>;

export interface TaskQuery {
  status?: string;
  priority?: string;
  assignee_id?: number;
  due_before?: string;
  due_after?: string;
  q?: string;
  include_deleted?: boolean;
  sort?: string;
  limit?: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type Notification = NotificationData & { read_at: string | null };

export interface NotificationQuery {
  unread?: boolean;
  limit?: number;
  cursor?: string;
  [param: string]: string | number | boolean | undefined;
}

export interface FocusParticipant {
  user: FocusUser;
  user_id: number;
  status: "active" | "on_break" | "away" | "left";
  current_task_id: number | null;
  joined_at: string;
  left_at: string | null;
  focused_seconds: number;
}

export interface FocusSession {
  id: string;
  workspace_id: number;
  host_id: number;
  title: string;
  work_minutes: number;
  break_minutes: number;
  cycles: number;
  status: string;
  phase: "work" | "break";
  cycle: number;
  phase_started_at: string | null;
  phase_ends_at: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  timer: FocusTimer;
  participants: FocusParticipant[];
}

export interface FocusSessionInput {
  workspace_id: number;
  title: string;
  work_minutes?: number;
  break_minutes?: number;
  cycles?: number;
}

export type ParticipantStatus = "active" | "on_break" | "away";

export interface ParticipantPatch {
  status?: ParticipantStatus;
  current_task_id?: number | null;
}
