"""Every version under an S3 prefix (ListObjectVersions), as one listing returns them, in fewer turns.

S3 hands out a listing's next page only with the page before it, so 20,001 versions are 21 turns one
after another. A listing that does not fit in one page is therefore listed by the prefix's folders (its
keys up to the next ``/``, from one delimited listing), each folder in full, concurrently, and merged
back in S3's order: by key (UTF-8 byte order, which is code point order), each key's versions as S3
gave them (newest first). The versions and delete markers are exactly the plain listing's; a listing
that fits in one page is that one request, as before, and one the split cannot list (a policy that
allows the prefix alone, say) goes on as the plain listing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

FOLDER_WORKERS = 8  # folders listed at once (each its own chain of pages)


def _pages(s3, bucket: str, prefix: str, page_size: int | None, delimiter: str | None = None):
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        kwargs["Delimiter"] = delimiter
    if page_size:
        kwargs["PaginationConfig"] = {"PageSize": page_size}
    return s3.get_paginator("list_object_versions").paginate(**kwargs)


def _listed(pages) -> tuple[list[dict], list[dict], list[str]]:
    versions, markers, folders = [], [], []
    for page in pages:
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
        folders += [p["Prefix"] for p in page.get("CommonPrefixes", []) if p.get("Prefix")]
    return versions, markers, folders


def list_versions(s3, bucket: str, prefix: str, page_size: int | None = None) -> tuple[list[dict], list[dict]]:
    """(versions, delete markers) under ``prefix``, as one paginated ListObjectVersions returns them."""
    pages = iter(_pages(s3, bucket, prefix, page_size))
    first = next(pages, None)
    if first is None:
        return [], []
    if not first.get("IsTruncated"):
        return list(first.get("Versions", [])), list(first.get("DeleteMarkers", []))
    try:
        split = _by_folder(s3, bucket, prefix, page_size)
    except Exception:  # noqa: BLE001 - e.g. a policy that allows this prefix only: the plain listing decides
        split = None
    if split is not None:
        return split
    more_versions, more_markers, _ = _listed(pages)  # the plain listing, from its second page on
    return first.get("Versions", []) + more_versions, first.get("DeleteMarkers", []) + more_markers


def _by_folder(s3, bucket: str, prefix: str, page_size: int | None) -> tuple[list[dict], list[dict]] | None:
    """The listing by folder, merged in S3's order; None when there is nothing to split by."""
    versions, markers, folders = _listed(_pages(s3, bucket, prefix, page_size, delimiter="/"))
    folders = list(dict.fromkeys(folders))
    if not folders or prefix in folders:
        return None
    with ThreadPoolExecutor(max_workers=min(FOLDER_WORKERS, len(folders)),
                            thread_name_prefix="kosmos-dr-s3-folder") as pool:
        for folder_versions, folder_markers, _ in pool.map(
                lambda folder: _listed(_pages(s3, bucket, folder, page_size)), folders):
            versions += folder_versions
            markers += folder_markers
    by_key = lambda entry: entry.get("Key") or ""  # noqa: E731 - stable: each key's versions keep S3's order
    return sorted(versions, key=by_key), sorted(markers, key=by_key)
