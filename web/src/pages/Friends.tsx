import { useState, type FormEvent } from 'react';
import { friends, type FriendSearchUser, type Friendship, type Id, type UserRef } from '../api';
import { useAuth } from '../auth';
import { Tabs } from '../components/Tabs';
import { Empty, ErrorText, Loading, Notice, TextField, errorMessage, useLoad } from '../components/ui';
import { formatDate } from '../lib/format';
import { Link, navigate, useQuery } from '../lib/router';

/** The person on the other side of a friendship row, whichever way the API names it. */
export function otherUser(f: Friendship, myId: Id | undefined): UserRef {
  const candidates = [f.friend, f.user, f.requester, f.addressee].filter((u): u is UserRef => !!u && !!u.username);
  const other = candidates.find((u) => String(u.id) !== String(myId));
  if (other) return other;
  if (candidates[0]) return candidates[0];
  const id = String(f.user_id) === String(myId) ? f.friend_id : f.user_id;
  return { id, username: `user ${id}` };
}

export function FriendsPage() {
  const q = useQuery();
  const tab = q.get('tab') ?? 'friends';
  const { user } = useAuth();
  const list = useLoad(() => friends.list(), []);
  const incoming = useLoad(() => friends.requests('incoming'), []);
  const outgoing = useLoad(() => friends.requests('outgoing'), []);
  const [rowError, setRowError] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);

  const act = async (key: string, fn: () => Promise<unknown>, msg: string) => {
    setRowError((r) => ({ ...r, [key]: '' }));
    try {
      await fn();
      setNotice(msg);
      list.reload();
      incoming.reload();
      outgoing.reload();
    } catch (e) {
      setRowError((r) => ({ ...r, [key]: errorMessage(e) }));
    }
  };

  const inCount = incoming.data?.length ?? 0;
  return (
    <section className="page" data-testid="friends-page">
      <div className="page-head">
        <h1>Friends</h1>
        <Link to="/feed" className="btn ghost">Friends’ feed</Link>
      </div>
      <Tabs
        label="Friends sections"
        current={tab}
        onSelect={(id) => navigate(`/friends?tab=${id}`, { replace: true })}
        tabs={[
          { id: 'friends', label: `My friends (${list.data?.length ?? 0})` },
          { id: 'requests', label: `Requests${inCount ? ` (${inCount})` : ''}` },
          { id: 'find', label: 'Find friends' },
        ]}
      />
      {notice ? <Notice testid="friends-notice">{notice}</Notice> : null}
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-panel">
        {tab === 'friends' ? (
          <div className="panel">
            {list.loading ? <Loading /> : null}
            <ErrorText error={list.error} />
            {list.data && !list.data.length ? <Empty>No friends yet. <Link to="/friends?tab=find">Find people you go to shows with.</Link></Empty> : null}
            <ul className="people big" data-testid="friends-list">
              {list.data?.map((f) => {
                const o = otherUser(f, user?.id);
                const key = `f${f.id}`;
                return (
                  <li key={key} data-testid="friend-item" data-username={o.username}>
                    <span className="avatar" aria-hidden="true">{o.username.slice(0, 1).toUpperCase()}</span>
                    <span className="grow">
                      <strong>{o.username}</strong>
                      <span className="muted small"> · friends since {formatDate(f.created_at)}</span>
                    </span>
                    <Link to={`/shows?user_id=${o.id}`} className="btn ghost small" data-testid={`friend-shows-${o.username}`}>Shows</Link>
                    <button type="button" className="btn ghost small danger" onClick={() => void act(key, () => friends.remove(f.id), `${o.username} is no longer your friend.`)} data-testid={`friend-remove-${o.username}`}>
                      Remove
                    </button>
                    {rowError[key] ? <p className="error-text" role="alert">{rowError[key]}</p> : null}
                  </li>
                );
              })}
            </ul>
          </div>
        ) : null}
        {tab === 'requests' ? (
          <div className="grid-2">
            <div className="panel">
              <h2>Incoming</h2>
              <ErrorText error={incoming.error} />
              {incoming.data && !incoming.data.length ? <Empty>No requests waiting for you.</Empty> : null}
              <ul className="people big" data-testid="requests-incoming">
                {incoming.data?.map((f) => {
                  const o = otherUser(f, user?.id);
                  const key = `i${f.id}`;
                  return (
                    <li key={key} data-testid="request-incoming" data-username={o.username}>
                      <span className="avatar" aria-hidden="true">{o.username.slice(0, 1).toUpperCase()}</span>
                      <strong className="grow">{o.username}</strong>
                      <button type="button" className="btn primary small" onClick={() => void act(key, () => friends.accept(f.id), `You and ${o.username} are now friends.`)} data-testid={`request-accept-${o.username}`}>Accept</button>
                      <button type="button" className="btn ghost small" onClick={() => void act(key, () => friends.reject(f.id), `Request from ${o.username} declined.`)} data-testid={`request-reject-${o.username}`}>Decline</button>
                      {rowError[key] ? <p className="error-text" role="alert">{rowError[key]}</p> : null}
                    </li>
                  );
                })}
              </ul>
            </div>
            <div className="panel">
              <h2>Sent</h2>
              <ErrorText error={outgoing.error} />
              {outgoing.data && !outgoing.data.length ? <Empty>No pending requests.</Empty> : null}
              <ul className="people big" data-testid="requests-outgoing">
                {outgoing.data?.map((f) => {
                  const o = otherUser(f, user?.id);
                  const key = `o${f.id}`;
                  return (
                    <li key={key} data-testid="request-outgoing" data-username={o.username}>
                      <span className="avatar" aria-hidden="true">{o.username.slice(0, 1).toUpperCase()}</span>
                      <strong className="grow">{o.username}</strong>
                      <button type="button" className="btn ghost small" onClick={() => void act(key, () => friends.remove(f.id), `Request to ${o.username} cancelled.`)} data-testid={`request-cancel-${o.username}`}>Cancel</button>
                      {rowError[key] ? <p className="error-text" role="alert">{rowError[key]}</p> : null}
                    </li>
                  );
                })}
              </ul>
            </div>
          </div>
        ) : null}
        {tab === 'find' ? <FindFriends onChange={() => outgoing.reload()} /> : null}
      </div>
    </section>
  );
}

function statusLabel(s: FriendSearchUser['friendship_status']): string | null {
  if (!s || s === 'none') return null;
  if (s === 'accepted' || s === 'friends') return 'Friends';
  if (s === 'self') return 'You';
  if (String(s).includes('incoming')) return null;
  if (String(s).includes('pending') || s === 'requested' || s === 'outgoing') return 'Request sent';
  return String(s);
}

function FindFriends({ onChange }: { onChange: () => void }) {
  const [q, setQ] = useState('');
  const [results, setResults] = useState<FriendSearchUser[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [rowError, setRowError] = useState<Record<string, string>>({});
  const [sent, setSent] = useState<Record<string, boolean>>({});
  const search = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (q.trim().length < 2) {
      setError(new Error('Type at least 2 characters of a username, or a whole email address.'));
      return;
    }
    try {
      setResults(await friends.search(q.trim()));
    } catch (err) {
      setError(err);
    }
  };
  const add = async (u: FriendSearchUser) => {
    try {
      await friends.request({ friend_id: u.id });
      setSent((s) => ({ ...s, [String(u.id)]: true }));
      onChange();
    } catch (err) {
      setRowError((r) => ({ ...r, [String(u.id)]: errorMessage(err) }));
    }
  };
  return (
    <div className="panel">
      <form onSubmit={(e) => void search(e)} className="row gap end" role="search" noValidate>
        <TextField label="Username or exact email" hint="An email finds only people who allow it in their settings." name="q" testid="friend-search-input" type="search" value={q} onChange={(e) => setQ(e.target.value)} />
        <button type="submit" className="btn primary" data-testid="friend-search-submit">Search</button>
      </form>
      <ErrorText error={error} testid="friend-search-error" />
      {results && !results.length ? <Empty>Nobody found.</Empty> : null}
      <ul className="people big" data-testid="friend-search-results">
        {results?.map((u) => {
          const label = sent[String(u.id)] ? 'Request sent' : statusLabel(u.friendship_status);
          return (
            <li key={String(u.id)} data-testid="friend-search-result" data-username={u.username}>
              <span className="avatar" aria-hidden="true">{u.username.slice(0, 1).toUpperCase()}</span>
              <strong className="grow">{u.username}</strong>
              {label ? (
                <span className="chip">{label}</span>
              ) : (
                <button type="button" className="btn primary small" onClick={() => void add(u)} data-testid={`friend-add-${u.username}`}>
                  {String(u.friendship_status ?? '').includes('incoming') ? 'Accept request' : 'Add friend'}
                </button>
              )}
              {rowError[String(u.id)] ? <p className="error-text" role="alert">{rowError[String(u.id)]}</p> : null}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
