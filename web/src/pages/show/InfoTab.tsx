import { useState } from 'react';
import { shows, type ShowDetail } from '../../api';
import { Empty, ErrorText, Notice, Stars, useAction, useLoad } from '../../components/ui';
import { formatDateTime, formatTime } from '../../lib/format';
import { Link } from '../../lib/router';

export function InfoTab({ show }: { show: ShowDetail }) {
  const active = useLoad(() => shows.activeUsers(show.id), [show.id]);
  const [status, setStatus] = useState<string | null>(null);
  const checkin = useAction(async () => {
    const r = await shows.checkin(show.id);
    setStatus(r?.message || `Checked in${r?.checked_in_at ? ` at ${formatTime(r.checked_in_at)}` : ''}.`);
    active.reload();
  });
  const checkout = useAction(async () => {
    const r = await shows.checkout(show.id);
    setStatus(r?.message || 'Checked out.');
    active.reload();
  });
  return (
    <div className="grid-2">
      <div className="panel">
        <h2>About this show</h2>
        <dl className="facts">
          <dt>Bill</dt>
          <dd>
            <ol className="lineup" data-testid="show-lineup">
              {(show.lineup ?? []).map((a) => (
                <li key={String(a.artist.id)} data-testid="lineup-act" data-role={a.role}>
                  <Link to={`/artists/${a.artist.id}`}>{a.artist.name}</Link>
                  {a.artist.disambiguation ? <span className="muted small"> ({a.artist.disambiguation})</span> : null}
                  <span className="chip">{a.role}</span>
                </li>
              ))}
            </ol>
          </dd>
          {show.festival ? (
            <>
              <dt>Festival</dt>
              <dd data-testid="show-festival">
                {show.festival.name}
                {show.festival.day ? `, ${show.festival.day}` : ''}
                {show.festival.stage ? ` · ${show.festival.stage} stage` : ''}
              </dd>
            </>
          ) : null}
          {show.ticket_price !== null && show.ticket_price !== undefined ? (
            <>
              <dt>Ticket</dt>
              <dd data-testid="show-ticket">
                {show.ticket_price.toFixed(2)} {show.currency ?? ''}
                {show.seat ? ` · ${show.seat}` : ''}
              </dd>
            </>
          ) : null}
          <dt>Rating</dt>
          <dd>{show.rating ? <Stars value={show.rating} /> : <span className="muted">Not rated</span>}</dd>
          <dt>Attendees</dt>
          <dd data-testid="show-attendees">{show.attendee_count ?? 1} {show.attendee_count === 1 ? 'person' : 'people'} logged this concert</dd>
          <dt>Visibility</dt>
          <dd>{show.visibility === 'private' ? 'Only you' : show.visibility === 'friends' ? 'You and your friends' : 'Everyone signed in'}</dd>
          {show.created_at ? (
            <>
              <dt>Logged</dt>
              <dd>{formatDateTime(show.created_at)}</dd>
            </>
          ) : null}
        </dl>
        <h3>Notes</h3>
        {show.notes ? <p className="notes" data-testid="show-notes-text">{show.notes}</p> : <Empty>No notes.</Empty>}
      </div>
      <div className="panel">
        <h2>At the concert</h2>
        <div className="row gap wrap">
          <button type="button" className="btn primary" onClick={() => void checkin.run()} disabled={checkin.pending} data-testid="checkin">
            {checkin.pending ? 'Checking in…' : 'Check in'}
          </button>
          <button type="button" className="btn ghost" onClick={() => void checkout.run()} disabled={checkout.pending} data-testid="checkout">
            Check out
          </button>
        </div>
        {status ? <Notice testid="checkin-status">{status}</Notice> : null}
        <ErrorText error={checkin.error} testid="checkin-error" />
        <ErrorText error={checkout.error} testid="checkout-error" />
        <h3>Who is here now</h3>
        <ErrorText error={active.error} />
        {active.data && !active.data.users.length ? <Empty>Nobody is checked in right now.</Empty> : null}
        <ul className="people" data-testid="active-users">
          {active.data?.users.map((u) => (
            <li key={String(u.user_id)}>
              <span className="avatar" aria-hidden="true">{u.username.slice(0, 1).toUpperCase()}</span>
              {u.username}
              {u.checked_in_at ? <span className="muted small"> since {formatTime(u.checked_in_at)}</span> : null}
            </li>
          ))}
        </ul>
        <Link to={`/shows/${show.id}?tab=live`} className="btn ghost" data-testid="open-live">Open the live chat</Link>
      </div>
    </div>
  );
}
