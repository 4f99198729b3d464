import '@fontsource-variable/inter/wght.css';
import './styles.css';
import { render } from 'preact';
import { App } from './app';
import { lowerIdleLimit } from './session';
import { navigate } from './router';

// `?idle=<seconds>` shortens the idle sign-out for this page load (used by the browser tests);
// it can only lower the 15-minute limit. The parameter is then removed from the address bar.
const params = new URLSearchParams(window.location.search);
const idle = params.get('idle');
if (idle !== null) {
  lowerIdleLimit(Number(idle));
  params.delete('idle');
  const rest = params.toString();
  navigate(window.location.pathname + (rest ? `?${rest}` : ''), { replace: true });
}

const root = document.getElementById('app');
if (root) render(<App />, root);
