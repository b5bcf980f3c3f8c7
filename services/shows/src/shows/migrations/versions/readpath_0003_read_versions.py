"""read versions: a per-owner version bumped by triggers on everything a show's JSON shows (ETags)

Revision ID: readpath_0003
Revises: w2catalog_0002

`read_version.version` of a user changes in the same transaction as any change to what their shows look
like to anyone: the show rows, setlists, bills, counters, audiences, the catalogue rows they show (artist,
venue, concert), the owner's username, and other people's shows of the same concert (attendee counts).
Triggers rather than calls in the code: the catalogue worker, importers, consumers and the API all write
these tables, and a writer that forgot a bump would let a client keep a stale answer. `read_epoch` is a
random token per database, so ETags of a recreated database never match old ones.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "readpath_0003"
down_revision: str | None = "w2catalog_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> {event: SELECT of the user ids whose shows' JSON the row change may alter}; {R} is NEW or OLD
_BY_SHOW = 'SELECT user_id AS u FROM "show" WHERE id = {R}.show_id'
TRIGGERS: dict[str, dict[str, str]] = {
    "show": {
        "INSERT": 'SELECT NEW.user_id AS u UNION SELECT user_id FROM "show" WHERE concert_id = NEW.concert_id',
        "DELETE": 'SELECT OLD.user_id AS u UNION SELECT user_id FROM "show" WHERE concert_id = OLD.concert_id',
        "UPDATE": 'SELECT NEW.user_id AS u UNION SELECT OLD.user_id UNION SELECT user_id FROM "show" '
                  "WHERE concert_id IN (OLD.concert_id, NEW.concert_id) AND OLD.concert_id <> NEW.concert_id",
    },
    **{
        table: {
            "INSERT": _BY_SHOW.format(R="NEW"),
            "DELETE": _BY_SHOW.format(R="OLD"),
            "UPDATE": 'SELECT user_id AS u FROM "show" WHERE id IN (OLD.show_id, NEW.show_id)',
        }
        for table in ("setlist_song", "show_act", "show_counter", "show_audience")
    },
    "artist": {
        "UPDATE": 'SELECT s.user_id AS u FROM "show" s JOIN concert c ON c.id = s.concert_id WHERE c.artist_id = NEW.id '
                  'UNION SELECT s.user_id FROM "show" s JOIN show_act a ON a.show_id = s.id WHERE a.artist_id = NEW.id',
    },
    "venue": {
        "UPDATE": 'SELECT s.user_id AS u FROM "show" s JOIN concert c ON c.id = s.concert_id WHERE c.venue_id = NEW.id',
    },
    "concert": {"UPDATE": 'SELECT user_id AS u FROM "show" WHERE concert_id IN (OLD.id, NEW.id)'},
    "user_copy": {"INSERT": "SELECT NEW.id AS u", "UPDATE": "SELECT NEW.id AS u"},
}


_SQLITE_BUMP = (
    "INSERT INTO read_version (user_id, version) SELECT DISTINCT u, 1 FROM ({users}) "
    "WHERE u IS NOT NULL ON CONFLICT (user_id) DO UPDATE SET version = read_version.version + 1"
)


def _name(table: str, event: str) -> str:
    return f"rv_{table}_{event.lower()}"


def upgrade() -> None:
    op.create_table(
        "read_version",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_read_version")),
    )
    epoch = op.create_table(
        "read_epoch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_epoch")),
    )
    op.bulk_insert(epoch, [{"id": 1, "token": secrets.token_hex(16)}])
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        # users in ascending order: two transactions bumping the same users lock them in the same order
        op.execute(
            "CREATE FUNCTION rv_bump(uids integer[]) RETURNS void LANGUAGE sql AS $$ "
            "INSERT INTO read_version (user_id, version) "
            "SELECT DISTINCT u, 1 FROM unnest(uids) AS u WHERE u IS NOT NULL ORDER BY u "
            "ON CONFLICT (user_id) DO UPDATE SET version = read_version.version + 1 $$"
        )
    for table, events in TRIGGERS.items():
        for event, users in events.items():
            name = _name(table, event)
            if pg:
                op.execute(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"PERFORM rv_bump(ARRAY({users})); RETURN NULL; END $$"
                )
                op.execute(f'CREATE TRIGGER {name} AFTER {event} ON "{table}" FOR EACH ROW EXECUTE FUNCTION {name}()')
            else:
                bump = _SQLITE_BUMP.format(users=users)
                op.execute(f'CREATE TRIGGER {name} AFTER {event} ON "{table}" FOR EACH ROW BEGIN {bump}; END')


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table, events in TRIGGERS.items():
        for event in events:
            name = _name(table, event)
            op.execute(f'DROP TRIGGER IF EXISTS {name} ON "{table}"' if pg else f"DROP TRIGGER IF EXISTS {name}")
            if pg:
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    if pg:
        op.execute("DROP FUNCTION IF EXISTS rv_bump(integer[])")
    op.drop_table("read_epoch")
    op.drop_table("read_version")
