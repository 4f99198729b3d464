import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Role } from './api/types';
import { setLanguage, useLang, useT } from './i18n';
import { Link } from './ui/link';
import { Icon, type IconName } from './ui/icons';
import { match, navigate, usePlace, here } from './router';
import { aliasOf } from './paths';
import { end, session } from './session';
import { useStore } from './store';
import { SignIn } from './pages/public/sign-in';
import { SignUp } from './pages/public/sign-up';
import { Confirm } from './pages/public/confirm';
import { NotFound } from './pages/public/not-found';
import { PatientExams } from './pages/patient/exams';
import { ExamDetail } from './pages/patient/exam-detail';
import { Book } from './pages/patient/book';
import { Claim } from './pages/patient/claim';
import { Notifications } from './pages/patient/notifications';
import { Settings } from './pages/patient/settings';
import { DeleteAccount } from './pages/patient/delete-account';
import { DoctorExams } from './pages/doctor/exams';
import { DoctorExam } from './pages/doctor/exam';
import { StaffHome } from './pages/staff/home';
import { StaffDoctors } from './pages/staff/doctors';
import { StaffHospitals } from './pages/staff/hospitals';
import { StaffSlots } from './pages/staff/slots';
import { StaffReports } from './pages/staff/reports';
import { StaffExams } from './pages/staff/exams';

interface Route {
  path: string;
  page: ComponentType<{ params: Record<string, string> }>;
  /** Who may open it; none = public. */
  roles?: Role[];
}

const ROUTES: Route[] = [
  { path: '/sign-in', page: SignIn },
  { path: '/sign-up', page: SignUp },
  { path: '/confirm', page: Confirm },
  { path: '/exams', page: PatientExams, roles: ['patient'] },
  { path: '/exams/:id', page: ExamDetail, roles: ['patient'] },
  { path: '/book', page: Book, roles: ['patient'] },
  { path: '/claim', page: Claim, roles: ['patient'] },
  { path: '/notifications', page: Notifications, roles: ['patient', 'doctor', 'staff'] },
  { path: '/settings', page: Settings, roles: ['patient', 'doctor', 'staff'] },
  { path: '/settings/delete', page: DeleteAccount, roles: ['patient'] },
  { path: '/doctor', page: DoctorExams, roles: ['doctor'] },
  { path: '/doctor/exams/:id', page: DoctorExam, roles: ['doctor'] },
  { path: '/staff', page: StaffHome, roles: ['staff'] },
  { path: '/staff/exams', page: StaffExams, roles: ['staff'] },
  { path: '/staff/doctors', page: StaffDoctors, roles: ['staff'] },
  { path: '/staff/hospitals', page: StaffHospitals, roles: ['staff'] },
  { path: '/staff/slots', page: StaffSlots, roles: ['staff'] },
  { path: '/staff/reports', page: StaffReports, roles: ['staff'] },
];

/** Where each role lands after signing in. */
export function homeOf(role: Role): string {
  switch (role) {
    case 'doctor':
      return '/doctor';
    case 'staff':
      return '/staff';
    default:
      return '/exams';
  }
}

interface NavItem {
  href: string;
  icon: IconName;
  label: (t: ReturnType<typeof useT>) => string;
}

const NAV: Record<string, NavItem[]> = {
  patient: [
    { href: '/exams', icon: 'calendar', label: (t) => t.nav.exams },
    { href: '/book', icon: 'plus', label: (t) => t.nav.book },
    { href: '/claim', icon: 'key', label: (t) => t.nav.claim },
    { href: '/notifications', icon: 'bell', label: (t) => t.nav.notifications },
    { href: '/settings', icon: 'user', label: (t) => t.nav.settings },
  ],
  doctor: [
    { href: '/doctor', icon: 'calendar', label: (t) => t.nav.assigned },
    { href: '/notifications', icon: 'bell', label: (t) => t.nav.notifications },
    { href: '/settings', icon: 'user', label: (t) => t.nav.settings },
  ],
  staff: [
    { href: '/staff', icon: 'heart', label: (t) => t.nav.overview },
    { href: '/staff/exams', icon: 'calendar', label: (t) => t.nav.staffExams },
    { href: '/staff/doctors', icon: 'user', label: (t) => t.nav.doctors },
    { href: '/staff/hospitals', icon: 'hospital', label: (t) => t.nav.hospitals },
    { href: '/staff/slots', icon: 'clock', label: (t) => t.nav.slots },
    { href: '/staff/reports', icon: 'report', label: (t) => t.nav.reports },
  ],
};

function useOnline(): boolean {
  const [online, setOnline] = useState(typeof navigator === 'undefined' ? true : navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);
  return online;
}

function LanguageSwitch() {
  const t = useT();
  const lang = useLang();
  const other = lang === 'pt-BR' ? 'en' : 'pt-BR';
  return (
    <button type="button" class="lang-switch" lang={other} onClick={() => setLanguage(other)} aria-label={t.shell.switchTo}>
      <Icon name="globe" />
      <span class="wide-only">{t.shell.otherLanguage}</span>
      <span class="narrow-only" aria-hidden="true">
        {other === 'en' ? 'EN' : 'PT'}
      </span>
    </button>
  );
}

export function App() {
  const t = useT();
  const place = usePlace();
  const signedIn = useStore(session);
  const online = useOnline();
  const [menuOpen, setMenuOpen] = useState(false);

  useEffect(() => setMenuOpen(false), [place.path]);

  let found: { route: Route; params: Record<string, string> } | null = null;
  for (const route of ROUTES) {
    const params = match(route.path, place.path);
    if (params) {
      found = { route, params };
      break;
    }
  }

  // Guards: pages for a role need that role; the root goes to the person's home.
  let redirect: string | null = null;
  const alias = aliasOf(place.path, place.query.toString());
  if (alias) redirect = alias;
  else if (place.path === '/') redirect = signedIn ? homeOf(signedIn.me.role) : '/sign-in';
  else if (found?.route.roles) {
    if (!signedIn) redirect = `/sign-in?next=${encodeURIComponent(here())}`;
    else if (!found.route.roles.includes(signedIn.me.role)) redirect = homeOf(signedIn.me.role);
  }
  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true });
  }, [redirect]);

  const nav = signedIn ? (NAV[signedIn.me.role] ?? []) : [];
  const Page = found && !redirect ? found.route.page : null;

  return (
    <>
      <a class="skip-link" href="#main">
        {t.shell.skip}
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <Link class="brand" href={signedIn ? homeOf(signedIn.me.role) : '/sign-in'}>
            <Icon name="heart" /> Clinic
          </Link>
          {signedIn ? <span class="whoami">{signedIn.me.name ?? signedIn.me.email}</span> : null}
          <LanguageSwitch />
          {signedIn ? (
            <>
              <button
                type="button"
                class="menu-toggle"
                aria-expanded={menuOpen ? 'true' : 'false'}
                aria-controls="main-nav"
                onClick={() => setMenuOpen(!menuOpen)}
              >
                <Icon name="menu" />
                <span>{t.shell.menu}</span>
              </button>
              <button type="button" class="signout" onClick={() => end('signed-out')}>
                <Icon name="logout" />
                <span class="collapse-label">{t.shell.signOut}</span>
              </button>
            </>
          ) : null}
        </div>
      </header>
      {signedIn ? (
        <nav class="nav" id="main-nav" aria-label={t.shell.navigation} data-open={menuOpen ? 'true' : 'false'}>
          <ul>
            {nav.map((item) => {
              const current = place.path === item.href || (item.href !== '/staff' && place.path.startsWith(`${item.href}/`));
              return (
                <li key={item.href}>
                  <Link href={item.href} aria-current={current ? 'page' : undefined}>
                    <Icon name={item.icon} />
                    {item.label(t)}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
      ) : null}
      {!online ? (
        <div class="offline-banner" role="status">
          <Icon name="offline" /> {t.shell.offline}
        </div>
      ) : null}
      <main id="main">{Page ? <Page params={found!.params} key={place.path} /> : redirect ? null : <NotFound />}</main>
      <footer>
        <p>{t.shell.footer}</p>
      </footer>
    </>
  );
}
