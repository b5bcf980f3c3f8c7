import type { FiledBy } from '../api';

const HOW: Record<FiledBy, string> = { time: 'time', gps: 'location', checkin: 'check-in', user: 'you' };

/** How a library upload reached this show (nothing for media uploaded to the show itself). */
export function FiledBadge({ filedBy }: { filedBy?: FiledBy | null }) {
  if (!filedBy) return null;
  return (
    <span className="chip filed" data-testid="media-filed-by" data-filed-by={filedBy} title="Uploaded to the library and filed here">
      filed by {HOW[filedBy] ?? filedBy}
    </span>
  );
}
