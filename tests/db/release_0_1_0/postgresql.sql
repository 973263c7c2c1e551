--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: alembic_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.alembic_version (
    version_num character varying(32) NOT NULL
);


--
-- Name: channel_heads; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.channel_heads (
    channel character varying(128) NOT NULL,
    last_seq bigint NOT NULL,
    updated_at timestamp with time zone NOT NULL
);


--
-- Name: channel_published; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.channel_published (
    channel character varying(128) NOT NULL,
    published_seq bigint NOT NULL
);


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    channel character varying(128) NOT NULL,
    seq bigint NOT NULL,
    message text NOT NULL,
    final boolean NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: focus_participants; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.focus_participants (
    session_id integer NOT NULL,
    user_id integer NOT NULL,
    status character varying(16) NOT NULL,
    current_task_id integer,
    joined_at timestamp with time zone NOT NULL,
    left_at timestamp with time zone,
    focused_seconds integer NOT NULL,
    focus_started_at timestamp with time zone
);


--
-- Name: focus_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.focus_sessions (
    id integer NOT NULL,
    workspace_id integer NOT NULL,
    host_id integer NOT NULL,
    title character varying(255) NOT NULL,
    work_minutes integer NOT NULL,
    break_minutes integer NOT NULL,
    cycles integer NOT NULL,
    status character varying(16) NOT NULL,
    phase character varying(8) NOT NULL,
    cycle integer NOT NULL,
    phase_started_at timestamp with time zone,
    phase_ends_at timestamp with time zone,
    paused_remaining_s double precision,
    created_at timestamp with time zone NOT NULL,
    started_at timestamp with time zone,
    ended_at timestamp with time zone,
    minute_s double precision DEFAULT 60 NOT NULL
);


--
-- Name: focus_sessions_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.focus_sessions_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: focus_sessions_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.focus_sessions_id_seq OWNED BY public.focus_sessions.id;


--
-- Name: memberships; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.memberships (
    workspace_id integer NOT NULL,
    user_id integer NOT NULL,
    role character varying(16) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    joined_seq bigint DEFAULT '0'::bigint NOT NULL
);


--
-- Name: notification_mutes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notification_mutes (
    user_id integer NOT NULL,
    type character varying(32) NOT NULL
);


--
-- Name: notifications; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.notifications (
    id integer NOT NULL,
    user_id integer NOT NULL,
    type character varying(32) NOT NULL,
    title character varying(255) NOT NULL,
    content text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    read boolean NOT NULL,
    read_at timestamp with time zone,
    related_entity_type character varying(32),
    related_entity_id character varying(64)
);


--
-- Name: notifications_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.notifications_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: notifications_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.notifications_id_seq OWNED BY public.notifications.id;


--
-- Name: refresh_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.refresh_tokens (
    id integer NOT NULL,
    user_id integer NOT NULL,
    family_id character varying(64) NOT NULL,
    token_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    used_at timestamp with time zone,
    revoked_at timestamp with time zone
);


--
-- Name: refresh_tokens_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.refresh_tokens_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: refresh_tokens_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.refresh_tokens_id_seq OWNED BY public.refresh_tokens.id;


--
-- Name: tasks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tasks (
    id integer NOT NULL,
    workspace_id integer NOT NULL,
    user_id integer NOT NULL,
    assignee_id integer,
    title character varying(255) NOT NULL,
    description text,
    status character varying(16) NOT NULL,
    priority character varying(16) NOT NULL,
    due_date timestamp with time zone,
    completed_at timestamp with time zone,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    deleted_at timestamp with time zone,
    version integer NOT NULL
);


--
-- Name: tasks_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.tasks_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: tasks_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.tasks_id_seq OWNED BY public.tasks.id;


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id integer NOT NULL,
    email character varying(320) NOT NULL,
    username character varying(32) NOT NULL,
    full_name character varying(200),
    timezone character varying(64) NOT NULL,
    password_hash character varying(255) NOT NULL,
    created_at timestamp with time zone NOT NULL
);


--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.users_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: users_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;


--
-- Name: workspaces; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.workspaces (
    id integer NOT NULL,
    name character varying(100) NOT NULL,
    description text,
    owner_id integer NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL
);


--
-- Name: workspaces_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.workspaces_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: workspaces_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.workspaces_id_seq OWNED BY public.workspaces.id;


--
-- Name: focus_sessions id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_sessions ALTER COLUMN id SET DEFAULT nextval('public.focus_sessions_id_seq'::regclass);


--
-- Name: notifications id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications ALTER COLUMN id SET DEFAULT nextval('public.notifications_id_seq'::regclass);


--
-- Name: refresh_tokens id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens ALTER COLUMN id SET DEFAULT nextval('public.refresh_tokens_id_seq'::regclass);


--
-- Name: tasks id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks ALTER COLUMN id SET DEFAULT nextval('public.tasks_id_seq'::regclass);


--
-- Name: users id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);


--
-- Name: workspaces id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.workspaces ALTER COLUMN id SET DEFAULT nextval('public.workspaces_id_seq'::regclass);


--
-- Data for Name: alembic_version; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.alembic_version VALUES ('0005');


--
-- Data for Name: channel_heads; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.channel_heads VALUES ('user:2:notifications', 1, '2026-12-04 18:20:10.832498+00');
INSERT INTO public.channel_heads VALUES ('user:1:notifications', 2, '2026-12-04 18:20:10.879782+00');
INSERT INTO public.channel_heads VALUES ('workspace:1:tasks', 6, '2026-12-04 18:20:10.879782+00');


--
-- Data for Name: channel_published; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.channel_published VALUES ('user:1:notifications', 2);
INSERT INTO public.channel_published VALUES ('user:2:notifications', 1);
INSERT INTO public.channel_published VALUES ('workspace:1:tasks', 6);


--
-- Data for Name: events; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.events VALUES ('user:2:notifications', 1, '{"type":"notification","seq":1,"data":{"id":1,"title":"Task Assigned","content":"alice assigned you ''Write proposal''","created_at":"2026-12-04T18:20:10.829329Z","read":false,"related_entity_type":"task","related_entity_id":1,"type":"task_assigned"}}', false, '2026-12-04 18:20:10.832498+00');
INSERT INTO public.events VALUES ('workspace:1:tasks', 1, '{"type":"task_update","action":"created","seq":1,"data":{"id":1,"title":"Write proposal","description":"details 0","status":"todo","priority":"high","due_date":"2030-04-01T12:00:00Z","workspace_id":1,"user_id":1,"assignee_id":2,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:20:10.826375Z","updated_at":"2026-12-04T18:20:10.826375Z","deleted_at":null}}', false, '2026-12-04 18:20:10.832498+00');
INSERT INTO public.events VALUES ('workspace:1:tasks', 2, '{"type":"task_update","action":"created","seq":2,"data":{"id":2,"title":"Review budget","description":"details 1","status":"todo","priority":"medium","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:20:10.841252Z","updated_at":"2026-12-04T18:20:10.841252Z","deleted_at":null}}', false, '2026-12-04 18:20:10.843067+00');
INSERT INTO public.events VALUES ('workspace:1:tasks', 3, '{"type":"task_update","action":"created","seq":3,"data":{"id":3,"title":"Book venue","description":"details 2","status":"todo","priority":"low","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:20:10.850624Z","updated_at":"2026-12-04T18:20:10.850624Z","deleted_at":null}}', false, '2026-12-04 18:20:10.852156+00');
INSERT INTO public.events VALUES ('workspace:1:tasks', 4, '{"type":"task_update","action":"created","seq":4,"data":{"id":4,"title":"Old idea","description":"details 3","status":"todo","priority":"low","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":1,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:20:10.859228Z","updated_at":"2026-12-04T18:20:10.859228Z","deleted_at":null}}', false, '2026-12-04 18:20:10.860225+00');
INSERT INTO public.events VALUES ('user:1:notifications', 1, '{"type":"notification","seq":1,"data":{"id":2,"title":"Task Completed","content":"bob completed ''Review budget''","created_at":"2026-12-04T18:20:10.872388Z","read":false,"related_entity_type":"task","related_entity_id":2,"type":"task_completed"}}', false, '2026-12-04 18:20:10.873094+00');
INSERT INTO public.events VALUES ('workspace:1:tasks', 5, '{"type":"task_update","action":"completed","seq":5,"data":{"id":2,"title":"Review budget","description":"details 1","status":"done","priority":"medium","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":2,"actor_id":2,"completed_at":"2026-12-04T18:20:10.868251Z","created_at":"2026-12-04T18:20:10.841252Z","updated_at":"2026-12-04T18:20:10.868255Z","deleted_at":null}}', false, '2026-12-04 18:20:10.873094+00');
INSERT INTO public.events VALUES ('user:1:notifications', 2, '{"type":"notification","seq":2,"data":{"id":3,"title":"Task Deleted","content":"You''ve deleted ''Old idea''","created_at":"2026-12-04T18:20:10.878606Z","read":false,"related_entity_type":"task","related_entity_id":4,"type":"task_deleted"}}', false, '2026-12-04 18:20:10.879782+00');
INSERT INTO public.events VALUES ('workspace:1:tasks', 6, '{"type":"task_update","action":"deleted","seq":6,"data":{"id":4,"title":"Old idea","description":"details 3","status":"todo","priority":"low","due_date":null,"workspace_id":1,"user_id":1,"assignee_id":null,"version":2,"actor_id":1,"completed_at":null,"created_at":"2026-12-04T18:20:10.859228Z","updated_at":"2026-12-04T18:20:10.877678Z","deleted_at":"2026-12-04T18:20:10.877678Z"}}', false, '2026-12-04 18:20:10.879782+00');


--
-- Data for Name: focus_participants; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.focus_participants VALUES (1, 1, 'active', NULL, '2026-12-04 18:20:10.897042+00', NULL, 0, NULL);


--
-- Data for Name: focus_sessions; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.focus_sessions VALUES (1, 1, 1, 'Morning sprint', 25, 5, 4, 'scheduled', 'work', 1, NULL, NULL, NULL, '2026-12-04 18:20:10.897042+00', NULL, NULL, 60);


--
-- Data for Name: memberships; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.memberships VALUES (1, 1, 'owner', '2026-12-04 18:20:10.788473+00', 0);
INSERT INTO public.memberships VALUES (1, 2, 'member', '2026-12-04 18:20:10.803216+00', 0);
INSERT INTO public.memberships VALUES (1, 3, 'admin', '2026-12-04 18:20:10.817228+00', 0);
INSERT INTO public.memberships VALUES (2, 1, 'owner', '2026-12-04 18:20:10.91889+00', 0);


--
-- Data for Name: notification_mutes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.notification_mutes VALUES (2, 'task_completed');


--
-- Data for Name: notifications; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.notifications VALUES (1, 2, 'task_assigned', 'Task Assigned', 'alice assigned you ''Write proposal''', '2026-12-04 18:20:10.829329+00', false, NULL, 'task', '1');
INSERT INTO public.notifications VALUES (2, 1, 'task_completed', 'Task Completed', 'bob completed ''Review budget''', '2026-12-04 18:20:10.872388+00', false, NULL, 'task', '2');
INSERT INTO public.notifications VALUES (3, 1, 'task_deleted', 'Task Deleted', 'You''ve deleted ''Old idea''', '2026-12-04 18:20:10.878606+00', false, NULL, 'task', '4');


--
-- Data for Name: refresh_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.refresh_tokens VALUES (1, 1, '1387728fe4ccb250ff457da97659f836', 'bd6faa771dd51853a5399066dba21bda1899d2fafa9772bf6b8340213632258c', '2026-12-04 18:20:09.933208+00', '2027-01-03 18:20:09.931429+00', NULL, NULL);
INSERT INTO public.refresh_tokens VALUES (2, 2, 'f7a5970c2e3cdbe4e851e434c1e5f62e', '2d5abebb7abad0c4999f44bfecdbe4cf1a3b2c912b15fedf5cf452e2ed951554', '2026-12-04 18:20:10.387127+00', '2027-01-03 18:20:10.386511+00', NULL, NULL);
INSERT INTO public.refresh_tokens VALUES (3, 3, 'bc7b1387b571bcd510ed47cf40ae106a', '88804b8ce8f965ff4cce92ed0eb88960e46e2b4f90b9c77bd36145efe9cf1d3a', '2026-12-04 18:20:10.770048+00', '2027-01-03 18:20:10.769577+00', NULL, NULL);


--
-- Data for Name: tasks; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.tasks VALUES (1, 1, 1, 2, 'Write proposal', 'details 0', 'todo', 'high', '2030-04-01 12:00:00+00', NULL, '2026-12-04 18:20:10.826375+00', '2026-12-04 18:20:10.826375+00', NULL, 1);
INSERT INTO public.tasks VALUES (3, 1, 1, NULL, 'Book venue', 'details 2', 'todo', 'low', NULL, NULL, '2026-12-04 18:20:10.850624+00', '2026-12-04 18:20:10.850624+00', NULL, 1);
INSERT INTO public.tasks VALUES (2, 1, 1, NULL, 'Review budget', 'details 1', 'done', 'medium', NULL, '2026-12-04 18:20:10.868251+00', '2026-12-04 18:20:10.841252+00', '2026-12-04 18:20:10.868255+00', NULL, 2);
INSERT INTO public.tasks VALUES (4, 1, 1, NULL, 'Old idea', 'details 3', 'todo', 'low', NULL, NULL, '2026-12-04 18:20:10.859228+00', '2026-12-04 18:20:10.877678+00', '2026-12-04 18:20:10.877678+00', 2);


--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.users VALUES (1, 'alice@example.com', 'alice', NULL, 'UTC', '$argon2id$v=19$m=65536,t=3,p=4$kdWA156qx8gBeNHjQ1Tk6A$leuCipjPT4PPo3PfXj8vqnejtaOWn681sxR4XfPIR9A', '2026-12-04 18:20:09.712484+00');
INSERT INTO public.users VALUES (2, 'bob@example.com', 'bob', NULL, 'UTC', '$argon2id$v=19$m=65536,t=3,p=4$Bj3aSPAYX7BO2iucjTeqgA$49BnRqfjPvuDZN3etpHtlDUVt3/wwp6fbGExaz1sXho', '2026-12-04 18:20:10.124963+00');
INSERT INTO public.users VALUES (3, 'carol@example.com', 'carol', NULL, 'UTC', '$argon2id$v=19$m=65536,t=3,p=4$2An9+4DKQUY1mUgG5Zz9Ug$vqVP9S0AjDiHj3+aQF2x4shbkU1fu51FirtBd6K29ho', '2026-12-04 18:20:10.56988+00');


--
-- Data for Name: workspaces; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.workspaces VALUES (1, 'Launch', NULL, 1, '2026-12-04 18:20:10.782005+00', '2026-12-04 18:20:10.782009+00');
INSERT INTO public.workspaces VALUES (2, 'Alice alone', NULL, 1, '2026-12-04 18:20:10.914795+00', '2026-12-04 18:20:10.914799+00');


--
-- Name: focus_sessions_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.focus_sessions_id_seq', 1, true);


--
-- Name: notifications_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.notifications_id_seq', 3, true);


--
-- Name: refresh_tokens_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.refresh_tokens_id_seq', 3, true);


--
-- Name: tasks_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.tasks_id_seq', 4, true);


--
-- Name: users_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.users_id_seq', 3, true);


--
-- Name: workspaces_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.workspaces_id_seq', 2, true);


--
-- Name: alembic_version alembic_version_pkc; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.alembic_version
    ADD CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num);


--
-- Name: channel_heads pk_channel_heads; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.channel_heads
    ADD CONSTRAINT pk_channel_heads PRIMARY KEY (channel);


--
-- Name: channel_published pk_channel_published; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.channel_published
    ADD CONSTRAINT pk_channel_published PRIMARY KEY (channel);


--
-- Name: events pk_events; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT pk_events PRIMARY KEY (channel, seq);


--
-- Name: focus_participants pk_focus_participants; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_participants
    ADD CONSTRAINT pk_focus_participants PRIMARY KEY (session_id, user_id);


--
-- Name: focus_sessions pk_focus_sessions; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_sessions
    ADD CONSTRAINT pk_focus_sessions PRIMARY KEY (id);


--
-- Name: memberships pk_memberships; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT pk_memberships PRIMARY KEY (workspace_id, user_id);


--
-- Name: notification_mutes pk_notification_mutes; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notification_mutes
    ADD CONSTRAINT pk_notification_mutes PRIMARY KEY (user_id, type);


--
-- Name: notifications pk_notifications; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT pk_notifications PRIMARY KEY (id);


--
-- Name: refresh_tokens pk_refresh_tokens; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT pk_refresh_tokens PRIMARY KEY (id);


--
-- Name: tasks pk_tasks; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT pk_tasks PRIMARY KEY (id);


--
-- Name: users pk_users; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT pk_users PRIMARY KEY (id);


--
-- Name: workspaces pk_workspaces; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.workspaces
    ADD CONSTRAINT pk_workspaces PRIMARY KEY (id);


--
-- Name: refresh_tokens uq_refresh_tokens_token_hash; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT uq_refresh_tokens_token_hash UNIQUE (token_hash);


--
-- Name: users uq_users_email; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT uq_users_email UNIQUE (email);


--
-- Name: ix_events_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_events_created_at ON public.events USING btree (created_at);


--
-- Name: ix_focus_participants_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_focus_participants_user_id ON public.focus_participants USING btree (user_id);


--
-- Name: ix_focus_sessions_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_focus_sessions_due ON public.focus_sessions USING btree (status, phase_ends_at);


--
-- Name: ix_focus_sessions_workspace_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_focus_sessions_workspace_id ON public.focus_sessions USING btree (workspace_id);


--
-- Name: ix_memberships_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_memberships_user_id ON public.memberships USING btree (user_id);


--
-- Name: ix_notifications_user_id_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_notifications_user_id_id ON public.notifications USING btree (user_id, id);


--
-- Name: ix_refresh_tokens_family_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_refresh_tokens_family_id ON public.refresh_tokens USING btree (family_id);


--
-- Name: ix_refresh_tokens_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_refresh_tokens_user_id ON public.refresh_tokens USING btree (user_id);


--
-- Name: ix_tasks_assignee_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_tasks_assignee_id ON public.tasks USING btree (assignee_id);


--
-- Name: ix_tasks_fts; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_tasks_fts ON public.tasks USING gin (to_tsvector('simple'::regconfig, translate((((title)::text || ' '::text) || COALESCE(description, ''::text)), '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~'::text, '                                '::text)));


--
-- Name: ix_tasks_workspace_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_tasks_workspace_created ON public.tasks USING btree (workspace_id, created_at, id);


--
-- Name: ix_workspaces_owner_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_workspaces_owner_id ON public.workspaces USING btree (owner_id);


--
-- Name: uq_users_username_lower; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_users_username_lower ON public.users USING btree (lower((username)::text));


--
-- Name: focus_participants fk_focus_participants_current_task_id_tasks; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_participants
    ADD CONSTRAINT fk_focus_participants_current_task_id_tasks FOREIGN KEY (current_task_id) REFERENCES public.tasks(id) ON DELETE SET NULL;


--
-- Name: focus_participants fk_focus_participants_session_id_focus_sessions; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_participants
    ADD CONSTRAINT fk_focus_participants_session_id_focus_sessions FOREIGN KEY (session_id) REFERENCES public.focus_sessions(id) ON DELETE CASCADE;


--
-- Name: focus_participants fk_focus_participants_user_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_participants
    ADD CONSTRAINT fk_focus_participants_user_id_users FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: focus_sessions fk_focus_sessions_host_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_sessions
    ADD CONSTRAINT fk_focus_sessions_host_id_users FOREIGN KEY (host_id) REFERENCES public.users(id);


--
-- Name: focus_sessions fk_focus_sessions_workspace_id_workspaces; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.focus_sessions
    ADD CONSTRAINT fk_focus_sessions_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES public.workspaces(id) ON DELETE CASCADE;


--
-- Name: memberships fk_memberships_user_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT fk_memberships_user_id_users FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: memberships fk_memberships_workspace_id_workspaces; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.memberships
    ADD CONSTRAINT fk_memberships_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES public.workspaces(id) ON DELETE CASCADE;


--
-- Name: notification_mutes fk_notification_mutes_user_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notification_mutes
    ADD CONSTRAINT fk_notification_mutes_user_id_users FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: notifications fk_notifications_user_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.notifications
    ADD CONSTRAINT fk_notifications_user_id_users FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: refresh_tokens fk_refresh_tokens_user_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.refresh_tokens
    ADD CONSTRAINT fk_refresh_tokens_user_id_users FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: tasks fk_tasks_assignee_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT fk_tasks_assignee_id_users FOREIGN KEY (assignee_id) REFERENCES public.users(id);


--
-- Name: tasks fk_tasks_user_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT fk_tasks_user_id_users FOREIGN KEY (user_id) REFERENCES public.users(id);


--
-- Name: tasks fk_tasks_workspace_id_workspaces; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT fk_tasks_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES public.workspaces(id) ON DELETE CASCADE;


--
-- Name: workspaces fk_workspaces_owner_id_users; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.workspaces
    ADD CONSTRAINT fk_workspaces_owner_id_users FOREIGN KEY (owner_id) REFERENCES public.users(id);


--
-- PostgreSQL database dump complete
--


