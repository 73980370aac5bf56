-- Switchboard on Supabase Realtime: a dedicated database role and row-level security on
-- realtime.messages.
--
-- Apply once per Supabase project (SQL editor or `psql -f`), then turn on
-- "Allow public access: off" (private channels only) in the Realtime settings.
-- Idempotent: running it again replaces the functions and policies.
--
-- The Realtime JWT the BFF gives browsers carries `role: switchboard_realtime`, a NOLOGIN
-- role with no table privileges outside realtime.messages, and `sub: switchboard:{tenant}:{user}`
-- (not a UUID, so `auth.uid()` never matches an app user). Presented to PostgREST, Storage or
-- GraphQL of the same project it gets nothing: those switch from `authenticator` to the
-- token's role, which owns no grants there.
--
-- Supabase evaluates these policies when a client joins a private channel, on its first
-- broadcast after joining, and again when it sends a new access token, with
-- `realtime.topic()` = the channel's topic and `request.jwt.claims` = the claims of the
-- Realtime JWT the BFF signed:
--   tid  the tenant            caps  tenant-relative pattern -> operations (src/core/capabilities.ts)
--   ns   per namespace: {"presence": bool, "clientEvents": [names]}
--   iat  when it was signed (compared with switchboard.revocations)
-- Topics are `{namespace}:{tenant}:{rest}` (toSupabaseTopic in src/core/provider-names.ts).
--
-- Each Switchboard channel has two topics:
--   {namespace}:{tenant}:{rest}           server events, published by the BFF (service role);
--                                         clients may only receive here, so none can forge one
--   {namespace}:{tenant}:{rest}#members   presence and whispers between members
-- The decision is the one the BFF makes for the Pusher protocol (src/server/routes/pusher-auth.ts):
--   receive (select): topic of the JWT's tenant, known namespace, `subscribe` on the channel,
--       and `presence` too on presence namespaces (joining one announces the member);
--       presence rows only on a presence namespace's members topic;
--   track presence (insert, presence, members topic): receive + presence namespace;
--   whisper (insert, broadcast, members topic): receive + `publish` + the namespace allows
--       client events and, where a row names its event, that event is one of them;
--   nothing at all for a user terminated after the token was signed (switchboard.revocations).
-- Supabase's join-time probe rows carry no event name, so per-name filtering of
-- whispers happens in the receiving Switchboard client (see README, provider matrix).
--
-- Supabase ORs permissive policies: a project policy such as `using (true)` on
-- realtime.messages would widen any permissive policy of ours. The RESTRICTIVE policies
-- below are ANDed with every permissive one, so for the switchboard_realtime role nothing
-- the project adds can grant more than realtime_allows does.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'switchboard_realtime') then
    create role switchboard_realtime nologin noinherit;
  end if;
  -- PostgREST and Storage switch roles from `authenticator`, Realtime from the database user
  -- it connects as (`supabase_admin`, or `postgres`); being able to switch to this role
  -- there is harmless: it has no privileges they could use.
  if exists (select 1 from pg_roles where rolname = 'authenticator') then
    grant switchboard_realtime to authenticator;
  end if;
  if exists (select 1 from pg_roles where rolname = 'postgres') then
    grant switchboard_realtime to postgres;
  end if;
end
$$;

create schema if not exists switchboard;
revoke all on schema switchboard from public, authenticated;
grant usage on schema switchboard to switchboard_realtime;
grant usage on schema realtime to switchboard_realtime;
grant select, insert on realtime.messages to switchboard_realtime;
grant execute on function realtime.topic() to switchboard_realtime;

-- Users terminated through POST /v1/users/:user/terminate: tokens signed at or before
-- `revoked_at` (epoch seconds) get nothing. Written by the BFF with the service role
-- through switchboard_terminate(); rows older than any token lifetime may be deleted.
create table if not exists switchboard.revocations (
  tenant text not null,
  user_id text not null,
  revoked_at bigint not null,
  primary key (tenant, user_id)
);
alter table switchboard.revocations enable row level security;
revoke all on switchboard.revocations from public;

create or replace function public.switchboard_terminate(tenant text, user_id text, revoked_at bigint)
returns void
language sql
security definer
set search_path = ''
as $$
  insert into switchboard.revocations as r (tenant, user_id, revoked_at) values (tenant, user_id, revoked_at)
  on conflict (tenant, user_id) do update set revoked_at = greatest(r.revoked_at, excluded.revoked_at)
$$;
revoke all on function public.switchboard_terminate(text, text, bigint) from public;
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'anon') then
    revoke all on function public.switchboard_terminate(text, text, bigint) from anon;
  end if;
  if exists (select 1 from pg_roles where rolname = 'authenticated') then
    revoke all on function public.switchboard_terminate(text, text, bigint) from authenticated;
  end if;
  if exists (select 1 from pg_roles where rolname = 'service_role') then
    grant execute on function public.switchboard_terminate(text, text, bigint) to service_role;
  end if;
end
$$;

-- The Realtime JWT's claims as Realtime sets them, read directly (the role has no usage on
-- the auth schema, so auth.jwt() is out of its reach).
create or replace function switchboard.claims()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

-- Is the holder of `claims` a user terminated after the token was signed?
create or replace function switchboard.revoked(claims jsonb)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from switchboard.revocations r
    where r.tenant = claims ->> 'tid'
      and 'switchboard:' || r.tenant || ':' || r.user_id = claims ->> 'sub'
      and (jsonb_typeof(claims -> 'iat') <> 'number' or (claims ->> 'iat')::numeric <= r.revoked_at)
  )
$$;

-- isAllowed(caps, operation, channel): exact name, or prefix ending in '*'.
create or replace function switchboard.caps_allow(caps jsonb, operation text, channel text)
returns boolean
language sql
immutable
set search_path = ''
as $$
  select coalesce(bool_or(
    jsonb_typeof(entry.value) = 'array'
    and entry.value ? operation
    and case
          when right(entry.key, 1) = '*' then starts_with(channel, left(entry.key, -1))
          else entry.key = channel
        end
  ), false)
  from jsonb_each(case when jsonb_typeof(caps) = 'object' then caps else '{}'::jsonb end) as entry
$$;

-- May the holder of `claims` do `action` ('read' | 'write') on `extension` of `topic`?
create or replace function switchboard.realtime_allows(claims jsonb, topic text, extension text, action text, event text)
returns boolean
language sql
immutable
set search_path = ''
as $$
  with target as (
    select part[1] as namespace, part[2] as tenant, part[1] || ':' || part[3] as channel, part[4] is not null as members
    from regexp_match(topic, '^([a-z][a-z0-9_-]*):([A-Za-z0-9_-]{1,64}):([A-Za-z0-9_=@,;:-]+)(#members)?$') as part
    -- 238 = 255 (Realtime's limit on a topic in binary frames) - length('realtime:') - length('#members')
    -- (SUPABASE_MAX_TOPIC_BYTES); 200 = the channel name limit
    where length(part[1] || ':' || part[2] || ':' || part[3]) <= 238 and length(part[1] || ':' || part[3]) <= 200
  ),
  scope as (
    select target.channel, target.members,
           claims -> 'caps' as caps,
           coalesce(claims -> 'ns' -> target.namespace -> 'presence' = 'true'::jsonb, false) as presence_ns,
           case when jsonb_typeof(claims -> 'ns' -> target.namespace -> 'clientEvents') = 'array'
                then claims -> 'ns' -> target.namespace -> 'clientEvents' else '[]'::jsonb end as client_events
    from target
    where target.tenant = claims ->> 'tid'
      and jsonb_typeof(claims -> 'ns' -> target.namespace) = 'object'
  ),
  decision as (
    select scope.*,
           switchboard.caps_allow(scope.caps, 'subscribe', scope.channel)
             and (not scope.presence_ns or switchboard.caps_allow(scope.caps, 'presence', scope.channel)) as can_receive
    from scope
  )
  select coalesce((
    select case
      when extension = 'broadcast' and action = 'read' then can_receive
      when not members then false
      when extension = 'presence' and action in ('read', 'write') then can_receive and presence_ns
      when extension = 'broadcast' and action = 'write' then
        can_receive
        and switchboard.caps_allow(caps, 'publish', channel)
        and jsonb_array_length(client_events) > 0
        and (event is null or client_events ? event)
      else false
    end
    from decision
  ), false)
$$;

-- The whole decision for the row being read or written, as the policies below apply it.
create or replace function switchboard.permits(row_topic text, extension text, action text, event text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select row_topic = realtime.topic()
     and switchboard.realtime_allows(switchboard.claims(), realtime.topic(), extension, action, event)
     and not switchboard.revoked(switchboard.claims())
$$;

revoke all on function switchboard.caps_allow(jsonb, text, text) from public;
revoke all on function switchboard.realtime_allows(jsonb, text, text, text, text) from public;
revoke all on function switchboard.claims() from public;
revoke all on function switchboard.revoked(jsonb) from public;
revoke all on function switchboard.permits(text, text, text, text) from public;
grant execute on function switchboard.caps_allow(jsonb, text, text) to switchboard_realtime;
grant execute on function switchboard.realtime_allows(jsonb, text, text, text, text) to switchboard_realtime;
grant execute on function switchboard.claims() to switchboard_realtime;
grant execute on function switchboard.revoked(jsonb) to switchboard_realtime;
grant execute on function switchboard.permits(text, text, text, text) to switchboard_realtime;

-- Earlier versions of this file granted to `authenticated`; nothing of it is theirs now.
drop policy if exists "switchboard: receive" on realtime.messages;
drop policy if exists "switchboard: send" on realtime.messages;
create policy "switchboard: receive" on realtime.messages
  as permissive for select to switchboard_realtime
  using (switchboard.permits(topic, extension, 'read', event));
create policy "switchboard: send" on realtime.messages
  as permissive for insert to switchboard_realtime
  with check (switchboard.permits(topic, extension, 'write', event));

-- The same conditions as RESTRICTIVE policies: whatever permissive policy the project adds
-- (to public, or to this role), the Switchboard role never gets more than the above.
drop policy if exists "switchboard: receive only as allowed" on realtime.messages;
create policy "switchboard: receive only as allowed" on realtime.messages
  as restrictive for select to switchboard_realtime
  using (switchboard.permits(topic, extension, 'read', event));
drop policy if exists "switchboard: send only as allowed" on realtime.messages;
create policy "switchboard: send only as allowed" on realtime.messages
  as restrictive for insert to switchboard_realtime
  with check (switchboard.permits(topic, extension, 'write', event));
drop policy if exists "switchboard: never update" on realtime.messages;
create policy "switchboard: never update" on realtime.messages
  as restrictive for update to switchboard_realtime
  using (false) with check (false);
drop policy if exists "switchboard: never delete" on realtime.messages;
create policy "switchboard: never delete" on realtime.messages
  as restrictive for delete to switchboard_realtime
  using (false);
