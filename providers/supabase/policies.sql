-- Switchboard on Supabase Realtime: row-level security on realtime.messages.
--
-- Apply once per Supabase project (SQL editor or `psql -f`), then turn on
-- "Allow public access: off" (private channels only) in the Realtime settings.
-- Idempotent: running it again replaces the functions and policies.
--
-- Supabase evaluates these policies when a client joins a private channel (and again
-- when it sends a new access token), with `realtime.topic()` = the channel's topic and
-- `auth.jwt()` = the claims of the Realtime JWT the BFF signed:
--   tid  the tenant            caps  tenant-relative pattern -> operations (src/core/capabilities.ts)
--   ns   per namespace: {"presence": bool, "clientEvents": [names]}
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
--       client events and, where a row names its event, that event is one of them.
-- Supabase's join-time probe rows carry no event name, so per-name filtering of
-- whispers happens in the receiving Switchboard client (see README, provider matrix).

create schema if not exists switchboard;
grant usage on schema switchboard to authenticated;

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

grant execute on function switchboard.caps_allow(jsonb, text, text) to authenticated;
grant execute on function switchboard.realtime_allows(jsonb, text, text, text, text) to authenticated;

drop policy if exists "switchboard: receive" on realtime.messages;
create policy "switchboard: receive" on realtime.messages
  for select to authenticated
  using (
    realtime.messages.topic = (select realtime.topic())
    and switchboard.realtime_allows((select auth.jwt()), (select realtime.topic()), realtime.messages.extension, 'read', realtime.messages.event)
  );

drop policy if exists "switchboard: send" on realtime.messages;
create policy "switchboard: send" on realtime.messages
  for insert to authenticated
  with check (
    realtime.messages.topic = (select realtime.topic())
    and switchboard.realtime_allows((select auth.jwt()), (select realtime.topic()), realtime.messages.extension, 'write', realtime.messages.event)
  );
