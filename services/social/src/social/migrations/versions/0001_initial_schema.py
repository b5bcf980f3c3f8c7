"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 22:37:13.132234
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('chat_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('concert_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_message'))
    )
    with op.batch_alter_table('chat_message', schema=None) as batch_op:
        batch_op.create_index('ix_chat_message_concert_id_id', ['concert_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_message_user_id'), ['user_id'], unique=False)

    op.create_table('comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('show_id', sa.Integer(), nullable=False),
    sa.Column('photo_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comment'))
    )
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_comment_photo_id'), ['photo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_comment_show_id'), ['show_id'], unique=False)
        batch_op.create_index('ix_comment_show_photo', ['show_id', 'photo_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_comment_user_id'), ['user_id'], unique=False)

    op.create_table('feed_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('show_id', sa.Integer(), nullable=False),
    sa.Column('media_id', sa.Integer(), nullable=False),
    sa.Column('media_kind', sa.String(length=8), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('thumbnail_url', sa.String(length=1024), nullable=True),
    sa.Column('url', sa.String(length=1024), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_item')),
    sa.UniqueConstraint('kind', 'show_id', 'media_id', name='uq_feed_item_kind_show_media')
    )
    with op.batch_alter_table('feed_item', schema=None) as batch_op:
        batch_op.create_index('ix_feed_item_owner_created', ['owner_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_feed_item_show_id'), ['show_id'], unique=False)

    op.create_table('friendship',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('friend_id', sa.Integer(), nullable=False),
    sa.Column('user_low', sa.Integer(), nullable=False),
    sa.Column('user_high', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'accepted')", name=op.f('ck_friendship_status')),
    sa.CheckConstraint('user_id <> friend_id', name=op.f('ck_friendship_not_self')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_friendship')),
    sa.UniqueConstraint('user_low', 'user_high', name='uq_friendship_pair')
    )
    with op.batch_alter_table('friendship', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_friendship_friend_id'), ['friend_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_friendship_user_id'), ['user_id'], unique=False)

    op.create_table('outbox_event',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_event'))
    )
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_event_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_event_published_at'), ['published_at'], unique=False)

    op.create_table('processed_event',
    sa.Column('consumer', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id', name=op.f('pk_processed_event'))
    )
    with op.batch_alter_table('processed_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_event_processed_at'), ['processed_at'], unique=False)

    op.create_table('show_ref',
    sa.Column('show_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('concert_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('show_name', sa.String(length=512), nullable=False),
    sa.Column('show_date', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('show_id', name=op.f('pk_show_ref'))
    )
    with op.batch_alter_table('show_ref', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_show_ref_concert_id'), ['concert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_show_ref_owner_id'), ['owner_id'], unique=False)

    op.create_table('app_user',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('username_lower', sa.String(length=64), nullable=False),
    sa.Column('email_lower', sa.String(length=320), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_user'))
    )
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_user_email_lower'), ['email_lower'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_user_username_lower'), ['username_lower'], unique=False)

    op.create_table('show_audience',
    sa.Column('show_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['show_id'], ['show_ref.show_id'], name=op.f('fk_show_audience_show_id_show_ref'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('show_id', 'user_id', name=op.f('pk_show_audience'))
    )



def downgrade() -> None:

    op.drop_table('show_audience')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_username_lower'))
        batch_op.drop_index(batch_op.f('ix_app_user_email_lower'))

    op.drop_table('app_user')
    with op.batch_alter_table('show_ref', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_show_ref_owner_id'))
        batch_op.drop_index(batch_op.f('ix_show_ref_concert_id'))

    op.drop_table('show_ref')
    with op.batch_alter_table('processed_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_event_processed_at'))

    op.drop_table('processed_event')
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_event_published_at'))
        batch_op.drop_index(batch_op.f('ix_outbox_event_created_at'))

    op.drop_table('outbox_event')
    with op.batch_alter_table('friendship', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_friendship_user_id'))
        batch_op.drop_index(batch_op.f('ix_friendship_friend_id'))

    op.drop_table('friendship')
    with op.batch_alter_table('feed_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_item_show_id'))
        batch_op.drop_index('ix_feed_item_owner_created')

    op.drop_table('feed_item')
    with op.batch_alter_table('comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_comment_user_id'))
        batch_op.drop_index('ix_comment_show_photo')
        batch_op.drop_index(batch_op.f('ix_comment_show_id'))
        batch_op.drop_index(batch_op.f('ix_comment_photo_id'))

    op.drop_table('comment')
    with op.batch_alter_table('chat_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_message_user_id'))
        batch_op.drop_index('ix_chat_message_concert_id_id')

    op.drop_table('chat_message')

