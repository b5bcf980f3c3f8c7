import { useState, type ImgHTMLAttributes } from 'react';
import { placeholderDataUrl } from '../lib/blurhash';

/** An image whose blurhash placeholder is painted (blurred) behind it until it loads. */
export function BlurImage({ placeholder, src, alt, className, ...rest }: ImgHTMLAttributes<HTMLImageElement> & { placeholder?: string | null; src: string; alt: string }) {
  const [loaded, setLoaded] = useState(false);
  const [failed, setFailed] = useState(false);
  const bg = placeholderDataUrl(placeholder);
  return (
    <span className={`blur-img ${className ?? ''}${loaded ? ' loaded' : ''}`} style={bg ? { backgroundImage: `url(${bg})` } : undefined} data-placeholder={bg ? 'blurhash' : 'none'}>
      {failed ? (
        <span className="img-failed">Image unavailable</span>
      ) : (
        <img src={src} alt={alt} loading="lazy" decoding="async" onLoad={() => setLoaded(true)} onError={() => setFailed(true)} {...rest} />
      )}
    </span>
  );
}
