import { useState } from 'preact/hooks';
import { api, ok } from '../../api/client';
import type { Notification } from '../../api/types';
import { useLang, useT } from '../../i18n';
import { dateTime } from '../../i18n/format';
import { Badge, Button, Empty, ErrorNotice, LoadStatus, Page, TableRegion, useAsync } from '../../ui/kit';

export function Notifications() {
  const t = useT();
  const lang = useLang();
  const [more, setMore] = useState<{ items: Notification[]; cursor: string | null }>({ items: [], cursor: null });
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<unknown>(null);
  const first = useAsync(async () => {
    const page = await ok(api.GET('/v1/me/notifications', { params: { query: { limit: '50' } } }));
    setMore({ items: [], cursor: page.nextCursor ?? null });
    return page.items;
  }, []);
  const items = [...(first.data ?? []), ...more.items];

  const loadMore = async () => {
    if (!more.cursor) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await ok(api.GET('/v1/me/notifications', { params: { query: { limit: '50', cursor: more.cursor } } }));
      setMore((prev) => ({ items: [...prev.items, ...page.items], cursor: page.nextCursor ?? null }));
    } catch (err) {
      setMoreError(err);
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <Page title={t.notifications.title} actions={<Button variant="secondary" icon="refresh" onClick={first.reload}>{t.common.refresh}</Button>}>
      <p class="muted">{t.notifications.intro}</p>
      <LoadStatus load={first} />
      {first.data && items.length === 0 ? <Empty icon="bell">{t.notifications.empty}</Empty> : null}
      {items.length > 0 ? (
        <TableRegion
          label={t.notifications.title}
          caption={t.notifications.title}
          columns={[t.notifications.when, t.notifications.message, t.notifications.channel, t.notifications.status]}
        >
          {items.map((n) => (
            <tr key={`${n.eventId}-${n.channel}`}>
              <td>
                <time dateTime={n.time}>{dateTime(lang, n.time)}</time>
              </td>
              <td>{t.notifications.template[n.template]}</td>
              <td>{t.notifications.channelName[n.channel]}</td>
              <td>
                <Badge tone={n.status === 'SENT' ? 'success' : n.status === 'FAILED' ? 'danger' : 'neutral'}>
                  {t.notifications.statusName[n.status]}
                </Badge>
                {n.reason ? <div class="meta">{t.notifications.reason(n.reason)}</div> : null}
              </td>
            </tr>
          ))}
        </TableRegion>
      ) : null}
      {moreError ? <ErrorNotice error={moreError} onRetry={loadMore} /> : null}
      {more.cursor ? (
        <p class="actions">
          <Button variant="secondary" busy={loadingMore} onClick={loadMore}>
            {t.common.loadMore}
          </Button>
        </p>
      ) : null}
    </Page>
  );
}
