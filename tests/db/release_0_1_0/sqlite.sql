PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version VALUES('0005');
CREATE TABLE channel_heads (
	channel VARCHAR(128) NOT NULL, 
	last_seq INTEGER NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_channel_heads PRIMARY KEY (channel)
);
INSERT INTO channel_heads VALUES('user:2:notifications',1,'2026-12-04 18:19:44.049462');
INSERT INTO channel_heads VALUES('workspace:1:tasks',6,'2026-12-04 18:19:44.070590');
INSERT INTO channel_heads VALUES('user:1:notifications',2,'2026-12-04 18:19:44.070590');
CREATE TABLE channel_published (
	channel VARCHAR(128) NOT NULL, 
	published_seq INTEGER NOT NULL, 
	CONSTRAINT pk_channel_published PRIMARY KEY (channel)
);
INSERT INTO channel_published VALUES('user:1:notifications',2);
INSERT INTO channel_published VALUES('user:2:notifications',1);
INSERT INTO channel_published VALUES('workspace:1:tasks',6);
CREATE TABLE events (
	channel VARCHAR(128) NOT NULL, 
	seq INTEGER NOT NULL, 
	message TEXT NOT NULL, 
	final BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_events PRIMARY KEY (channel, seq)
);
INSERT INTO events VALUES('user:2:notifications',1,'{"type":"notification","seq":1,"data":{"id":1,"title":"Task Assigned","content":"alice assigned you ''Write proposal''","created_at":"2026-12-04T18:19:44.047165Z","read":false,"related_entity_type":"task","related_entity_id":1,"type":"task_assigned"}}',0,'2026-12-04 18:19:44.049462');
INSERT INTO events VALUES('workspace:1:tasks',1,'{"type":"task_update","action":"created","seq":1,"data":{"id":1,"title":"Write proposal","description":"details 0","status":"todo","priority":"high","due_date":"2030-04-01T12:00:00Z","workspace_id":1,"user_id":1,"assignee_id":2,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:19:44.045505Z","updated_at":"2026-12-04T18:19:44.045505Z","deleted_at":null}}',0,'2026-12-04 18:19:44.049462');
INSERT INTO events VALUES('workspace:1:tasks',2,'{"type":"task_update","action":"created","seq":2,"data":{"id":2,"title":"Review budget","description":"details 1","status":"todo","priority":"medium","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:19:44.053622Z","updated_at":"2026-12-04T18:19:44.053622Z","deleted_at":null}}',0,'2026-12-04 18:19:44.054164');
INSERT INTO events VALUES('workspace:1:tasks',3,'{"type":"task_update","action":"created","seq":3,"data":{"id":3,"title":"Book venue","description":"details 2","status":"todo","priority":"low","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:19:44.057527Z","updated_at":"2026-12-04T18:19:44.057527Z","deleted_at":null}}',0,'2026-12-04 18:19:44.058051');
INSERT INTO events VALUES('workspace:1:tasks',4,'{"type":"task_update","action":"created","seq":4,"data":{"id":4,"title":"Old idea","description":"details 3","status":"todo","priority":"low","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:19:44.061121Z","updated_at":"2026-12-04T18:19:44.061121Z","deleted_at":null}}',0,'2026-12-04 18:19:44.061621');
INSERT INTO events VALUES('user:1:notifications',1,'{"type":"notification","seq":1,"data":{"id":2,"title":"Task Completed","content":"bob completed ''Review budget''","created_at":"2026-12-04T18:19:44.066659Z","read":false,"related_entity_type":"task","related_entity_id":2,"type":"task_completed"}}',0,'2026-12-04 18:19:44.067018');
INSERT INTO events VALUES('workspace:1:tasks',5,'{"type":"task_update","action":"completed","seq":5,"data":{"id":2,"title":"Review budget","description":"details 1","status":"done","priority":"medium","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":2,"actor_id":2,"completed_at":"2026-12-04T18:19:44.066124Z","created_at":"2026-12-04T18:19:44.053622Z","updated_at":"2026-12-04T18:19:44.066128Z","deleted_at":null}}',0,'2026-12-04 18:19:44.067018');
INSERT INTO events VALUES('user:1:notifications',2,'{"type":"notification","seq":2,"data":{"id":3,"title":"Task Deleted","content":"You''ve deleted ''Old idea''","created_at":"2026-12-04T18:19:44.070303Z","read":false,"related_entity_type":"task","related_entity_id":4,"type":"task_deleted"}}',0,'2026-12-04 18:19:44.070590');
INSERT INTO events VALUES('workspace:1:tasks',6,'{"type":"task_update","action":"deleted","seq":6,"data":{"id":4,"title":"Old idea","description":"details 3","status":"todo","priority":"low","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":2,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:19:44.061121Z","updated_at":"2026-12-04T18:19:44.069834Z","deleted_at":"2026-12-04T18:19:44.069834Z"}}',0,'2026-12-04 18:19:44.070590');
CREATE TABLE users (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	email VARCHAR(320) NOT NULL, 
	username VARCHAR(32) NOT NULL, 
	full_name VARCHAR(200), 
	timezone VARCHAR(64) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT uq_users_email UNIQUE (email)
);
INSERT INTO users VALUES(1,'alice@example.com','alice',NULL,'UTC','$argon2id$v=19$m=65536,t=3,p=4$d69xQaT2OT0NyANX16ysgg$CyGiH1+kYTC29Q+RL5LgrxprybLG/fDWwAFkbAGA0ZU','2026-12-04 18:19:42.890554');
INSERT INTO users VALUES(2,'bob@example.com','bob',NULL,'UTC','$argon2id$v=19$m=65536,t=3,p=4$5xFqVFa2F1iiuiafT1cXJg$iqjr/hiSX5RbjkJwIomQpmAA7ysEAD1nzHpYPibBrPM','2026-12-04 18:19:43.342245');
INSERT INTO users VALUES(3,'carol@example.com','carol',NULL,'UTC','$argon2id$v=19$m=65536,t=3,p=4$x5tbOZa+gHp+J0lWjqk6jA$ijijR7S3sCkjdwvpLms7ZpIUZIOnr7IpcEHzyH85khY','2026-12-04 18:19:43.744870');
CREATE TABLE notification_mutes (
	user_id INTEGER NOT NULL, 
	type VARCHAR(32) NOT NULL, 
	CONSTRAINT pk_notification_mutes PRIMARY KEY (user_id, type), 
	CONSTRAINT fk_notification_mutes_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
INSERT INTO notification_mutes VALUES(2,'task_completed');
CREATE TABLE notifications (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	user_id INTEGER NOT NULL, 
	type VARCHAR(32) NOT NULL, 
	title VARCHAR(255) NOT NULL, 
	content TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	read BOOLEAN NOT NULL, 
	read_at DATETIME, 
	related_entity_type VARCHAR(32), 
	related_entity_id VARCHAR(64), 
	CONSTRAINT fk_notifications_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
INSERT INTO notifications VALUES(1,2,'task_assigned','Task Assigned','alice assigned you ''Write proposal''','2026-12-04 18:19:44.047165',0,NULL,'task','1');
INSERT INTO notifications VALUES(2,1,'task_completed','Task Completed','bob completed ''Review budget''','2026-12-04 18:19:44.066659',0,NULL,'task','2');
INSERT INTO notifications VALUES(3,1,'task_deleted','Task Deleted','You''ve deleted ''Old idea''','2026-12-04 18:19:44.070303',0,NULL,'task','4');
CREATE TABLE refresh_tokens (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	user_id INTEGER NOT NULL, 
	family_id VARCHAR(64) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	used_at DATETIME, 
	revoked_at DATETIME, 
	CONSTRAINT fk_refresh_tokens_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, 
	CONSTRAINT uq_refresh_tokens_token_hash UNIQUE (token_hash)
);
INSERT INTO refresh_tokens VALUES(1,1,'8c0c5bd8ce57d077c96782dd3e4bd006','e3c7fec4ce8e6d75a51ee937632887e50bde11c20d890224f9b48fa289756dea','2026-12-04 18:19:43.123588','2027-01-03 18:19:43.118304',NULL,NULL);
INSERT INTO refresh_tokens VALUES(2,2,'016c56570b5d50a6d07bc3db6f2bb57f','43a8c74dd7ef0f21c8646a56ccffcb4d9d1bc40cc1d1df2a01c3e5ac0505f059','2026-12-04 18:19:43.556052','2027-01-03 18:19:43.555161',NULL,NULL);
INSERT INTO refresh_tokens VALUES(3,3,'50f329ca6760f89893c8d6711b4ed682','cd7c960094db2db8dbdd089139bee5c344069652e6127dcba1ce210c24d54061','2026-12-04 18:19:44.013092','2027-01-03 18:19:44.012212',NULL,NULL);
CREATE TABLE workspaces (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	name VARCHAR(100) NOT NULL, 
	description TEXT, 
	owner_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT fk_workspaces_owner_id_users FOREIGN KEY(owner_id) REFERENCES users (id)
);
INSERT INTO workspaces VALUES(1,'Launch',NULL,1,'2026-12-04 18:19:44.020372','2026-12-04 18:19:44.020376');
INSERT INTO workspaces VALUES(2,'Alice alone',NULL,1,'2026-12-04 18:19:44.085644','2026-12-04 18:19:44.085647');
CREATE TABLE focus_sessions (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	workspace_id INTEGER NOT NULL, 
	host_id INTEGER NOT NULL, 
	title VARCHAR(255) NOT NULL, 
	work_minutes INTEGER NOT NULL, 
	break_minutes INTEGER NOT NULL, 
	cycles INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	phase VARCHAR(8) NOT NULL, 
	cycle INTEGER NOT NULL, 
	phase_started_at DATETIME, 
	phase_ends_at DATETIME, 
	paused_remaining_s DOUBLE, 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	ended_at DATETIME, minute_s DOUBLE DEFAULT 60 NOT NULL, 
	CONSTRAINT fk_focus_sessions_host_id_users FOREIGN KEY(host_id) REFERENCES users (id), 
	CONSTRAINT fk_focus_sessions_workspace_id_workspaces FOREIGN KEY(workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE
);
INSERT INTO focus_sessions VALUES(1,1,1,'Morning sprint',25,5,4,'scheduled','work',1,NULL,NULL,NULL,'2026-12-04 18:19:44.077937',NULL,NULL,60.0);
CREATE TABLE memberships (
	workspace_id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, joined_seq INTEGER DEFAULT '0' NOT NULL, 
	CONSTRAINT pk_memberships PRIMARY KEY (workspace_id, user_id), 
	CONSTRAINT fk_memberships_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, 
	CONSTRAINT fk_memberships_workspace_id_workspaces FOREIGN KEY(workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE
);
INSERT INTO memberships VALUES(1,1,'owner','2026-12-04 18:19:44.021530',0);
INSERT INTO memberships VALUES(1,2,'member','2026-12-04 18:19:44.030374',0);
INSERT INTO memberships VALUES(1,3,'admin','2026-12-04 18:19:44.037808',0);
INSERT INTO memberships VALUES(2,1,'owner','2026-12-04 18:19:44.086026',0);
CREATE TABLE tasks (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	workspace_id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	assignee_id INTEGER, 
	title VARCHAR(255) NOT NULL, 
	description TEXT, 
	status VARCHAR(16) NOT NULL, 
	priority VARCHAR(16) NOT NULL, 
	due_date DATETIME, 
	completed_at DATETIME, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	version INTEGER NOT NULL, 
	CONSTRAINT fk_tasks_assignee_id_users FOREIGN KEY(assignee_id) REFERENCES users (id), 
	CONSTRAINT fk_tasks_user_id_users FOREIGN KEY(user_id) REFERENCES users (id), 
	CONSTRAINT fk_tasks_workspace_id_workspaces FOREIGN KEY(workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE
);
INSERT INTO tasks VALUES(1,1,1,2,'Write proposal','details 0','todo','high','2030-04-01 12:00:00.000000',NULL,'2026-12-04 18:19:44.045505','2026-12-04 18:19:44.045505',NULL,1);
INSERT INTO tasks VALUES(2,1,1,NULL,'Review budget','details 1','done','medium',NULL,'2026-12-04 18:19:44.066124','2026-12-04 18:19:44.053622','2026-12-04 18:19:44.066128',NULL,2);
INSERT INTO tasks VALUES(3,1,1,NULL,'Book venue','details 2','todo','low',NULL,NULL,'2026-12-04 18:19:44.057527','2026-12-04 18:19:44.057527',NULL,1);
INSERT INTO tasks VALUES(4,1,1,NULL,'Old idea','details 3','todo','low',NULL,NULL,'2026-12-04 18:19:44.061121','2026-12-04 18:19:44.069834','2026-12-04 18:19:44.069834',2);
CREATE TABLE focus_participants (
	session_id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	current_task_id INTEGER, 
	joined_at DATETIME NOT NULL, 
	left_at DATETIME, 
	focused_seconds INTEGER NOT NULL, 
	focus_started_at DATETIME, 
	CONSTRAINT pk_focus_participants PRIMARY KEY (session_id, user_id), 
	CONSTRAINT fk_focus_participants_current_task_id_tasks FOREIGN KEY(current_task_id) REFERENCES tasks (id) ON DELETE SET NULL, 
	CONSTRAINT fk_focus_participants_session_id_focus_sessions FOREIGN KEY(session_id) REFERENCES focus_sessions (id) ON DELETE CASCADE, 
	CONSTRAINT fk_focus_participants_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
INSERT INTO focus_participants VALUES(1,1,'active',NULL,'2026-12-04 18:19:44.077937',NULL,0,NULL);
PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table','tasks_fts','tasks_fts',0,'CREATE VIRTUAL TABLE tasks_fts USING fts5(title, description, content=''tasks'', content_rowid=''id'', tokenize=''unicode61 remove_diacritics 0'')');
CREATE TABLE IF NOT EXISTS 'tasks_fts_data'(id INTEGER PRIMARY KEY, block BLOB);
INSERT INTO tasks_fts_data VALUES(1,X'040808');
INSERT INTO tasks_fts_data VALUES(10,X'000000000104040004010101020101030101040101');
INSERT INTO tasks_fts_data VALUES(137438953473,X'000000310230300106010103010764657461696c730106010102010870726f706f73616c0102030105777269746501020204080e0d');
INSERT INTO tasks_fts_data VALUES(274877906945,X'0000003002303102060101030106627564676574020203010764657461696c730206010102010672657669657702020204080b0e');
INSERT INTO tasks_fts_data VALUES(412316860417,X'0000002d02303203060101030104626f6f6b030202010764657461696c730306010102010576656e75650302030408090e');
INSERT INTO tasks_fts_data VALUES(549755813889,X'0000002b0230330406010103010764657461696c73040601010201046964656104020301036f6c6404020204080e09');
CREATE TABLE IF NOT EXISTS 'tasks_fts_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID;
INSERT INTO tasks_fts_idx VALUES(1,X'',2);
INSERT INTO tasks_fts_idx VALUES(2,X'',2);
INSERT INTO tasks_fts_idx VALUES(3,X'',2);
INSERT INTO tasks_fts_idx VALUES(4,X'',2);
CREATE TABLE IF NOT EXISTS 'tasks_fts_docsize'(id INTEGER PRIMARY KEY, sz BLOB);
INSERT INTO tasks_fts_docsize VALUES(1,X'0202');
INSERT INTO tasks_fts_docsize VALUES(2,X'0202');
INSERT INTO tasks_fts_docsize VALUES(3,X'0202');
INSERT INTO tasks_fts_docsize VALUES(4,X'0202');
CREATE TABLE IF NOT EXISTS 'tasks_fts_config'(k PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO tasks_fts_config VALUES('version',4);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('users',3);
INSERT INTO sqlite_sequence VALUES('refresh_tokens',3);
INSERT INTO sqlite_sequence VALUES('workspaces',2);
INSERT INTO sqlite_sequence VALUES('tasks',4);
INSERT INTO sqlite_sequence VALUES('notifications',3);
INSERT INTO sqlite_sequence VALUES('focus_sessions',1);
CREATE INDEX ix_events_created_at ON events (created_at);
CREATE UNIQUE INDEX uq_users_username_lower ON users (lower(username));
CREATE INDEX ix_notifications_user_id_id ON notifications (user_id, id);
CREATE INDEX ix_refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX ix_workspaces_owner_id ON workspaces (owner_id);
CREATE INDEX ix_focus_sessions_due ON focus_sessions (status, phase_ends_at);
CREATE INDEX ix_focus_sessions_workspace_id ON focus_sessions (workspace_id);
CREATE INDEX ix_memberships_user_id ON memberships (user_id);
CREATE INDEX ix_tasks_assignee_id ON tasks (assignee_id);
CREATE INDEX ix_tasks_workspace_created ON tasks (workspace_id, created_at, id);
CREATE INDEX ix_focus_participants_user_id ON focus_participants (user_id);
CREATE TRIGGER tasks_fts_insert AFTER INSERT ON tasks BEGIN INSERT INTO tasks_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END;
CREATE TRIGGER tasks_fts_delete AFTER DELETE ON tasks BEGIN INSERT INTO tasks_fts(tasks_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description); END;
CREATE TRIGGER tasks_fts_update AFTER UPDATE OF title, description ON tasks WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN INSERT INTO tasks_fts(tasks_fts, rowid, title, description) VALUES ('delete', old.id, old.title, old.description); INSERT INTO tasks_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END;
PRAGMA writable_schema=OFF;
COMMIT;
