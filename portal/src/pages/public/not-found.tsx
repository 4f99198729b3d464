import { useT } from '../../i18n';
import { Link } from '../../ui/link';
import { Page } from '../../ui/kit';

export function NotFound() {
  const t = useT();
  return (
    <Page title={t.notFound.title}>
      <p>{t.notFound.body}</p>
      <p>
        <Link href="/">{t.notFound.home}</Link>
      </p>
    </Page>
  );
}
