import { useState, type FormEvent } from 'react';
import { auth, type LoginResponse, type Me } from '../../api';
import { savePendingMfa, useAuth } from '../../auth';
import { FormError, TextField, fieldError, useAction } from '../../components/ui';
import { safeNext } from '../../lib/guards';
import { Link, navigate, useQuery } from '../../lib/router';
import { AuthLayout } from './AuthLayout';

export function LoginPage() {
  const q = useQuery();
  const next = q.get('next');
  const { setUser, reload } = useAuth();
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [show, setShow] = useState(false);
  const { run, pending, error } = useAction(async () => {
    const res: LoginResponse = await auth.login(login.trim(), password);
    if (res.mfa_required) {
      savePendingMfa({ mfa_token: res.mfa_token, methods: res.methods ?? [], message: res.message, login: login.trim() });
      navigate(`/login/mfa${next ? `?next=${encodeURIComponent(next)}` : ''}`);
      return;
    }
    savePendingMfa(null);
    const me = (await reload()) ?? (res.user as Me);
    setUser(me);
    navigate(safeNext(next), { replace: true });
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void run();
  };
  return (
    <AuthLayout
      title="Log in"
      footer={
        <>
          <Link to="/forgot-password" data-testid="link-forgot">Forgot password?</Link>
          <span> · </span>
          <Link to="/register" data-testid="link-register">Create an account</Link>
        </>
      }
    >
      <form onSubmit={submit} noValidate data-testid="login-form">
        <TextField label="Username or email" name="login" testid="login-username" autoComplete="username" required value={login} onChange={(e) => setLogin(e.target.value)} error={fieldError(error, 'login', 'username')} />
        <TextField label="Password" name="password" testid="login-password" type={show ? 'text' : 'password'} autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} error={fieldError(error, 'password')} />
        <label className="check">
          <input type="checkbox" checked={show} onChange={(e) => setShow(e.target.checked)} data-testid="login-show-password" /> Show password
        </label>
        <FormError error={error} fields={['login', 'username', 'password']} testid="login-error" />
        <button type="submit" className="btn primary block" disabled={pending} data-testid="login-submit">
          {pending ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </AuthLayout>
  );
}
