import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MediaRecord } from '../api/types';
import { AudioPlayer } from '../components/AudioPlayer';
import { Lightbox } from '../components/Lightbox';
import { Tabs } from '../components/Tabs';
import { fakeFetch } from './fakes';

afterEach(() => vi.unstubAllGlobals());

const rec = (id: number, extra: Partial<MediaRecord> = {}): MediaRecord => ({ id, show_id: 1, user_id: 1, kind: 'photo', status: 'ready', created_at: '', thumbnail_url: `/api/photos/${id}/thumbnail`, caption: `Photo ${id}`, ...extra });

describe('Tabs', () => {
  it('moves with arrow keys, Home and End (roving tabindex)', () => {
    const onSelect = vi.fn();
    render(<Tabs label="Sections" current="b" onSelect={onSelect} tabs={[{ id: 'a', label: 'A' }, { id: 'b', label: 'B' }, { id: 'c', label: 'C' }]} />);
    const b = screen.getByRole('tab', { name: 'B' });
    expect(b.getAttribute('aria-selected')).toBe('true');
    expect(b.tabIndex).toBe(0);
    expect(screen.getByRole('tab', { name: 'A' }).tabIndex).toBe(-1);
    fireEvent.keyDown(b, { key: 'ArrowRight' });
    fireEvent.keyDown(b, { key: 'ArrowLeft' });
    fireEvent.keyDown(b, { key: 'End' });
    fireEvent.keyDown(b, { key: 'Home' });
    expect(onSelect.mock.calls.map((c) => c[0])).toEqual(['c', 'a', 'c', 'a']);
  });
});

describe('Lightbox', () => {
  it('shows the large size, browses with ←/→ and closes with Escape', () => {
    const onIndex = vi.fn();
    const onClose = vi.fn();
    render(<Lightbox photos={[rec(1), rec(2)]} index={0} onIndex={onIndex} onClose={onClose} />);
    expect(screen.getByRole('dialog').getAttribute('aria-modal')).toBe('true');
    expect(screen.getByTestId('lightbox-img').getAttribute('src')).toBe('/api/photos/1/thumbnail?size=large');
    expect(document.activeElement).toBe(screen.getByTestId('lightbox-close'));
    fireEvent.keyDown(window, { key: 'ArrowLeft' });
    fireEvent.keyDown(window, { key: 'ArrowRight' });
    fireEvent.keyDown(window, { key: 'Escape' });
    expect(onIndex.mock.calls).toEqual([[1]]);
    expect(onClose).toHaveBeenCalledTimes(1);
  });
});

describe('AudioPlayer', () => {
  it('draws the waveform from urls.waveform peaks and plays the same-origin url', async () => {
    const { fn, calls } = fakeFetch([['GET', /waveform/, () => ({ body: { peaks: Array.from({ length: 240 }, (_, i) => (i % 10) / 10) } })]]);
    vi.stubGlobal('fetch', fn);
    render(<AudioPlayer rec={rec(4, { kind: 'audio', url: '/api/audio/4', urls: { waveform: '/api/audio/4/waveform' }, title: 'Encore' })} />);
    const wave = await screen.findByTestId('waveform');
    await waitFor(() => expect(wave.querySelectorAll('rect').length).toBe(120));
    expect(wave.getAttribute('role')).toBe('slider');
    expect(screen.getByTestId('audio-element').getAttribute('src')).toBe('/api/audio/4');
    expect(calls[0].url).toBe('/api/audio/4/waveform');
  });

  it('says so when the waveform cannot be loaded, and still plays', async () => {
    const { fn } = fakeFetch([]);
    vi.stubGlobal('fetch', fn);
    render(<AudioPlayer rec={rec(5, { kind: 'audio', url: '/api/audio/5', urls: { waveform: '/api/audio/5/waveform' } })} />);
    expect(await screen.findByText('Waveform unavailable.')).toBeTruthy();
    expect(screen.getByTestId('audio-element')).toBeTruthy();
  });
});
