"""Annotated dependencies of the shows routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from shared.adb import AsyncReader
from shared.auth import CurrentUser
from shared.params import MAX_ID
from shared.users import UserDirectory
from shows.clients import Peers
from shows.config import ShowsSettings
from shows.service import Viewer


async def get_viewer(principal: CurrentUser) -> Viewer:
    """The signed-in caller as the domain sees them."""
    return Viewer(id=principal.user_id, username=principal.username)


async def get_settings_dep(request: Request) -> ShowsSettings:
    """This app's settings."""
    settings: ShowsSettings = request.app.state.settings
    return settings


async def get_users(request: Request) -> UserDirectory:
    """Where accounts are looked up (auth)."""
    users: UserDirectory = request.app.state.users
    return users


def reader_of(request: Request) -> AsyncReader:
    """The app's async read pool (the hot read routes)."""
    reader: AsyncReader = request.app.state.reader
    return reader


async def get_peers(request: Request) -> Peers:
    """Clients of media and social."""
    peers: Peers = request.app.state.peers
    return peers


ViewerDep = Annotated[Viewer, Depends(get_viewer)]
SettingsDep = Annotated[ShowsSettings, Depends(get_settings_dep)]
PeersDep = Annotated[Peers, Depends(get_peers)]
UsersDep = Annotated[UserDirectory, Depends(get_users)]
ShowId = Annotated[int, Path(ge=1, le=MAX_ID, description="Show id")]
SongId = Annotated[int, Path(ge=1, le=MAX_ID, description="Setlist song id")]
