/** What this node knows of other nodes' presence members (scale-out): info changes of a user already present. */
import { describe, expect, it } from 'vitest';
import { RemotePresence } from '../../providers/local/remote-presence.js';

describe('remote presence: a member whose info changes on another node', () => {
  it('reports the new info once and shows the latest report', () => {
    const presence = new RemotePresence();
    expect(presence.add('node-a', 'presence-x', 'ana', { name: 'Ana' })).toEqual({ kind: 'added', channel: 'presence-x', userId: 'ana', info: { name: 'Ana' } });
    expect(presence.add('node-b', 'presence-x', 'ana', { name: 'Ana' })).toBeUndefined();
    expect(presence.add('node-a', 'presence-x', 'ana', { name: 'Ana' })).toBeUndefined();
    expect(presence.add('node-a', 'presence-x', 'ana', { name: 'Ana B.' })).toEqual({ kind: 'changed', channel: 'presence-x', userId: 'ana', info: { name: 'Ana B.' } });
    expect(presence.members('presence-x').get('ana')).toEqual({ name: 'Ana B.' });
    // A snapshot repeating what a node reported keeps the latest info shown.
    expect(presence.replaceNode('node-b', [{ channel: 'presence-x', userId: 'ana', info: { name: 'Ana' } }])).toEqual([]);
    expect(presence.members('presence-x').get('ana')).toEqual({ name: 'Ana B.' });
    // The node with the new info leaves: the other node's info is shown again, and said so.
    expect(presence.remove('node-a', 'presence-x', 'ana')).toEqual({ kind: 'reverted', channel: 'presence-x', userId: 'ana', info: { name: 'Ana' } });
    expect(presence.members('presence-x').get('ana')).toEqual({ name: 'Ana' });
    expect(presence.remove('node-b', 'presence-x', 'ana')).toMatchObject({ kind: 'removed', userId: 'ana' });
  });
});
