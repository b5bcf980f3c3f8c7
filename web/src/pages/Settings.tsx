import { useState, type FormEvent } from 'react';
import { auth, friends, me, type MfaSetupResponse } from '../api';
import { useAuth } from '../auth';
import { RecoveryCodes, TotpSetup } from '../components/TotpSetup';
import { ErrorText, FormError, Loading, Notice, TextField, fieldError, useAction, useLoad } from '../components/ui';
import { formatBytes, formatDate, formatDateTime, plural } from '../lib/format';
import { disablePush, enablePush, pushState } from '../lib/push';
import { navigate } from '../lib/router';
import { PASSWORD_RULE } from './auth/AuthLayout';

export function SettingsPage() {
  const { user, logout } = useAuth();
  if (!user) return null;
  return (
    <section className="page narrow" data-testid="settings-page">
      <h1>Settings</h1>
      <div className="panel">
        <h2>Account</h2>
        <dl className="facts">
          <dt>Username</dt>
          <dd data-testid="settings-username">{user.username}</dd>
          <dt>Email</dt>
          <dd>
            {user.email} {user.email_verified ? <span className="chip ok">verified</span> : <span className="chip warn">not verified</span>}
          </dd>
          <dt>Member since</dt>
          <dd>{formatDate(user.created_at)}</dd>
        </dl>
      </div>
      <ChangeEmail />
      <PrivacyAndStorage />
      <MfaSection />
      <ChangePassword />
      <Sessions />
      <div className="panel row between wrap gap">
        <span>Signed in as {user.username} on this device.</span>
        <button type="button" className="btn ghost" onClick={() => void logout()} data-testid="settings-logout">Log out</button>
      </div>
      <DeleteAccount />
    </section>
  );
}

function ChangeEmail() {
  const [email, setEmail] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const a = useAction(async () => {
    const r = await auth.changeEmail(email.trim());
    setDone(r?.message || 'Check the new address for a confirmation link.');
    setEmail('');
  });
  return (
    <form
      className="panel"
      noValidate
      data-testid="change-email-form"
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        setDone(null);
        void a.run();
      }}
    >
      <h2>Change email</h2>
      <TextField label="New email address" name="new_email" type="email" testid="ce-email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} error={fieldError(a.error, 'new_email', 'email')} />
      <FormError error={a.error} fields={['new_email', 'email']} testid="ce-error" />
      {done ? <Notice testid="ce-done">{done}</Notice> : null}
      <button type="submit" className="btn primary" disabled={a.pending || !email.trim()} data-testid="ce-submit">Send confirmation link</button>
    </form>
  );
}

/** Signed-in devices: sign one out, or all of them. */
function Sessions() {
  const { setUser } = useAuth();
  const list = useLoad(() => auth.sessions(), []);
  const revoke = useAction(async (sid: string, current: boolean) => {
    await auth.revokeSession(sid);
    if (current) {
      setUser(null);
      navigate('/login', { replace: true });
    } else list.reload();
  });
  const everywhere = useAction(async () => {
    await auth.revokeAllSessions(false);
    setUser(null);
    navigate('/login', { replace: true });
  });
  return (
    <div className="panel" data-testid="sessions-panel">
      <h2>Where you are signed in</h2>
      {list.loading ? <Loading /> : null}
      <ErrorText error={list.error ?? revoke.error ?? everywhere.error} testid="sessions-error" />
      <ul className="sessions">
        {(list.data?.sessions ?? []).map((s) => (
          <li key={s.id} className="row between wrap gap" data-testid="session-row">
            <span>
              <strong>{s.device}</strong> {s.current ? <span className="chip ok">this device</span> : null}
              <br />
              <span className="muted small">{s.ip ? `${s.ip} · ` : ''}last active {formatDateTime(s.last_used_at)}</span>
            </span>
            <button type="button" className="btn ghost small" disabled={revoke.pending} onClick={() => void revoke.run(s.id, s.current)} data-testid="session-revoke">Sign out</button>
          </li>
        ))}
      </ul>
      <button type="button" className="btn danger" disabled={everywhere.pending} onClick={() => void everywhere.run()} data-testid="sessions-revoke-all">Sign out everywhere</button>
    </div>
  );
}

function MfaSection() {
  const { user, reload } = useAuth();
  const [setup, setSetup] = useState<MfaSetupResponse & { method: 'totp' | 'email' } | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [emailCode, setEmailCode] = useState('');
  const [pw, setPw] = useState('');
  const [msg, setMsg] = useState<string | null>(null);

  const start = useAction(async (method: 'totp' | 'email') => {
    setCodes(null);
    setMsg(null);
    const r = await auth.mfaSetup(method);
    setSetup({ ...r, method });
  });
  const confirmEmail = useAction(async () => {
    const r = await auth.mfaEnable(emailCode, 'email');
    setCodes(r?.recovery_codes ?? r?.codes ?? []);
    setSetup(null);
    await reload();
  });
  const disable = useAction(async () => {
    const secret = pw.trim();
    const r = await auth.mfaDisable(/^\d{6,8}$/.test(secret) ? { code: secret } : { password: secret });
    setMsg(r?.message || 'Two-step verification is off.');
    setPw('');
    await reload();
  });
  const regenerate = useAction(async () => {
    const r = await auth.mfaRecoveryCodes({ password: pw });
    setCodes(r?.recovery_codes ?? r?.codes ?? []);
    setPw('');
  });

  return (
    <div className="panel" data-testid="mfa-section">
      <h2>Two-step verification</h2>
      <p data-testid="mfa-status">
        {user?.mfa_enabled ? `On (${user.mfa_method === 'totp' ? 'authenticator app' : user.mfa_method === 'email' ? 'code by email' : user.mfa_method})` : 'Off'}
      </p>
      {msg ? <Notice testid="mfa-message">{msg}</Notice> : null}
      {codes ? <RecoveryCodes codes={codes} /> : null}

      {!user?.mfa_enabled && !setup ? (
        <div className="row gap wrap">
          <button type="button" className="btn primary" onClick={() => void start.run('totp')} disabled={start.pending} data-testid="mfa-setup-totp">Use an authenticator app</button>
          <button type="button" className="btn ghost" onClick={() => void start.run('email')} disabled={start.pending} data-testid="mfa-setup-email">Use codes by email</button>
        </div>
      ) : null}
      <FormError error={start.error} fields={[]} testid="mfa-setup-error" />

      {setup?.method === 'totp' && setup.totp_uri ? (
        <TotpSetup
          uri={setup.totp_uri}
          secret={setup.totp_secret}
          onDone={(c) => {
            setCodes(c);
            setSetup(null);
            void reload();
          }}
        />
      ) : null}
      {setup?.method === 'email' ? (
        <form
          noValidate
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            void confirmEmail.run();
          }}
        >
          <Notice>{setup.message || 'We emailed you a code. Enter it to turn on two-step verification.'}</Notice>
          <TextField label="Code from the email" name="code" testid="mfa-email-code" inputMode="numeric" autoComplete="one-time-code" value={emailCode} onChange={(e) => setEmailCode(e.target.value)} error={fieldError(confirmEmail.error, 'code')} />
          <FormError error={confirmEmail.error} fields={['code']} testid="mfa-email-error" />
          <button type="submit" className="btn primary" disabled={confirmEmail.pending} data-testid="mfa-email-submit">Turn on</button>
        </form>
      ) : null}

      {user?.mfa_enabled ? (
        <form
          className="mt"
          noValidate
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            void disable.run();
          }}
        >
          <TextField label="Password (or a current code)" name="password" testid="mfa-disable-password" type="password" autoComplete="current-password" value={pw} onChange={(e) => setPw(e.target.value)} error={fieldError(disable.error ?? regenerate.error, 'password', 'code')} />
          <FormError error={disable.error ?? regenerate.error} fields={['password', 'code']} testid="mfa-disable-error" />
          <div className="row gap wrap">
            <button type="button" className="btn ghost" onClick={() => void regenerate.run()} disabled={regenerate.pending || !pw} data-testid="mfa-new-codes">New recovery codes</button>
            <button type="submit" className="btn danger" disabled={disable.pending || !pw} data-testid="mfa-disable">Turn off</button>
          </div>
        </form>
      ) : null}
    </div>
  );
}

function PrivacyAndStorage() {
  const { user } = useAuth();
  const settings = useLoad(() => friends.settings(), []);
  const profile = useLoad(() => me.profileSettings(), []);
  const usage = useLoad(() => me.usage(), []);
  const toggleProfile = useAction(async (on: boolean) => {
    const before = profile.data;
    profile.setData({ public_profile: on });
    try {
      profile.setData(await me.updateProfileSettings({ public_profile: on }));
    } catch (e) {
      profile.setData(before);
      throw e;
    }
  });
  // optimistic: the box flips at once and flips back if the server refuses
  const toggle = useAction(async (on: boolean) => {
    const before = settings.data;
    settings.setData({ findable_by_email: on });
    try {
      settings.setData(await friends.updateSettings({ findable_by_email: on }));
    } catch (e) {
      settings.setData(before);
      throw e;
    }
  });
  return (
    <div className="panel" data-testid="privacy-panel">
      <h2>Privacy and storage</h2>
      <label className="check">
        <input
          type="checkbox"
          checked={settings.data?.findable_by_email ?? false}
          disabled={!settings.data}
          onChange={(e) => void toggle.run(e.target.checked)}
          data-testid="findable-by-email"
        />{' '}
        People who know my email address may find me by it (everyone can always find you by username)
      </label>
      <ErrorText error={settings.error ?? toggle.error} />
      <label className="check">
        <input
          type="checkbox"
          checked={profile.data?.public_profile ?? false}
          disabled={!profile.data}
          onChange={(e) => void toggleProfile.run(e.target.checked)}
          data-testid="public-profile"
        />{' '}
        Public profile: anyone may see my public shows, their counts and my top artists
      </label>
      {profile.data?.public_profile && user ? (
        <p>
          <a href={`/u/${encodeURIComponent(user.username)}`} target="_blank" rel="noopener" data-testid="public-profile-link">
            See my public profile
          </a>
        </p>
      ) : null}
      <ErrorText error={profile.error ?? toggleProfile.error} />
      <DevicePush />
      {/* always rendered, so the page does not move under the pointer when the figures arrive */}
      <p data-testid="storage-usage">
        {usage.data
          ? `Storage: ${formatBytes(usage.data.bytes_used)} of ${formatBytes(usage.data.bytes_quota)} used (${plural(usage.data.items, 'item')})`
          : 'Storage: …'}
      </p>
    </div>
  );
}

/** Web Push on this browser: shown only where the browser and the server both support it. */
function DevicePush() {
  const state = useLoad(() => pushState(), []);
  const toggle = useAction(async (on: boolean) => state.setData(await (on ? enablePush() : disablePush())));
  const s = state.data;
  if (!s || s === 'unsupported' || s === 'unavailable') return null;
  return (
    <>
      <label className="check">
        <input
          type="checkbox"
          checked={s === 'on'}
          disabled={s === 'denied' || toggle.pending}
          onChange={(e) => void toggle.run(e.target.checked)}
          data-testid="push-toggle"
        />{' '}
        Notifications on this device, even when ShareMyShows is closed
        {s === 'denied' ? ' (blocked in your browser settings)' : ''}
      </label>
      <ErrorText error={state.error ?? toggle.error} />
    </>
  );
}

function ChangePassword() {
  const [f, setF] = useState({ current: '', next: '', confirm: '' });
  const [done, setDone] = useState<string | null>(null);
  const a = useAction(async () => {
    if (f.next !== f.confirm) throw new Error('The two new passwords differ.');
    const r = await auth.changePassword(f.current, f.next);
    setDone(r?.message || 'Password changed. Other sessions were signed out.');
    setF({ current: '', next: '', confirm: '' });
  });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF((x) => ({ ...x, [k]: e.target.value }));
  return (
    <form
      className="panel"
      noValidate
      data-testid="change-password-form"
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        setDone(null);
        void a.run();
      }}
    >
      <h2>Change password</h2>
      <TextField label="Current password" name="current_password" testid="cp-current" type="password" autoComplete="current-password" value={f.current} onChange={set('current')} error={fieldError(a.error, 'current_password')} />
      <TextField label="New password" name="new_password" testid="cp-new" type="password" autoComplete="new-password" hint={PASSWORD_RULE} value={f.next} onChange={set('next')} error={fieldError(a.error, 'new_password', 'password')} />
      <TextField label="Confirm new password" name="confirm" testid="cp-confirm" type="password" autoComplete="new-password" value={f.confirm} onChange={set('confirm')} error={f.confirm && f.confirm !== f.next ? 'The two new passwords differ.' : undefined} />
      <FormError error={a.error} fields={['current_password', 'new_password', 'password']} testid="cp-error" />
      {done ? <Notice testid="cp-done">{done}</Notice> : null}
      <button type="submit" className="btn primary" disabled={a.pending} data-testid="cp-submit">Change password</button>
    </form>
  );
}

function DeleteAccount() {
  const { setUser } = useAuth();
  const [pw, setPw] = useState('');
  const [sure, setSure] = useState(false);
  const a = useAction(async () => {
    await auth.deleteMe(pw || undefined);
    setUser(null);
    navigate('/login', { replace: true });
  });
  return (
    <form
      className="panel danger-zone"
      noValidate
      data-testid="delete-account-form"
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        void a.run();
      }}
    >
      <h2>Delete account</h2>
      <p>This deletes your account, your shows, setlists, photos, recordings, videos, comments and chat messages. It cannot be undone.</p>
      <TextField label="Your password" name="password" testid="delete-password" type="password" autoComplete="current-password" value={pw} onChange={(e) => setPw(e.target.value)} error={fieldError(a.error, 'password')} />
      <label className="check">
        <input type="checkbox" checked={sure} onChange={(e) => setSure(e.target.checked)} data-testid="delete-confirm" /> I understand everything will be deleted
      </label>
      <FormError error={a.error} fields={['password']} testid="delete-error" />
      <button type="submit" className="btn danger" disabled={!sure || !pw || a.pending} data-testid="delete-submit">Delete my account</button>
    </form>
  );
}
