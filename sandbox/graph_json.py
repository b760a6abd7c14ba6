"""JSON shapes of the Microsoft Graph stand-in: events, users, mailbox settings, OData errors and
the identity platform's token answers, as the v1.0 documentation shows them."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GRAPH_EVENT_TYPE = "#microsoft.graph.event"
# A few Windows zone names the stand-in knows without the CLDR table (mailbox zones of the seed)
WINDOWS_ZONES = {
    "W. Europe Standard Time": "Europe/Berlin",
    "Pacific Standard Time": "America/Los_Angeles",
    "Eastern Standard Time": "America/New_York",
    "GMT Standard Time": "Europe/London",
    "India Standard Time": "Asia/Calcutta",
    "Tokyo Standard Time": "Asia/Tokyo",
    "UTC": "Etc/UTC",
}


def zone_of(name: str | None) -> ZoneInfo | None:
    """The zone for a Windows or IANA name, or None when the stand-in does not know it."""
    if not name:
        return None
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def graph_time(moment: datetime, zone: ZoneInfo) -> str:
    """``2016-12-09T20:30:00.0000000``: wall time in `zone`, no offset, seven fraction digits."""
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}0"


def iso_z(moment: datetime) -> str:
    """``2026-11-03T09:00:00.1234567Z`` (Graph's created/lastModified style)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}0Z"


def make_id(*parts: object) -> str:
    """An Outlook-like opaque id (``AAMkAD…=``), URL-safe base64, stable for its parts."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:33]
    return "AAMkAD" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:40] + "AAA="


def change_key(event: dict[str, Any]) -> str:
    return base64.b64encode(hashlib.sha256(f"{event['id']}:{event['seq']}".encode()).digest()[:12]).decode()


def local_midnights(day_from: date, day_to: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants of the local midnights starting `day_from` and `day_to` in `zone`."""
    return (
        datetime.combine(day_from, time(0), zone).astimezone(UTC),
        datetime.combine(day_to, time(0), zone).astimezone(UTC),
    )


def event_json(event: dict[str, Any], mailbox: dict[str, Any], zone: ZoneInfo, zone_name: str) -> dict[str, Any]:
    """One event as calendarView/delta renders it, times in `zone` (``Prefer: outlook.timezone``)."""
    if event["is_all_day"]:  # all-day events are floating: midnight of their dates, whatever the zone
        start_text = event["start_date"].isoformat() + "T00:00:00.0000000"
        end_text = event["end_date"].isoformat() + "T00:00:00.0000000"
    else:
        start_text, end_text = graph_time(event["start"], zone), graph_time(event["end"], zone)
    tag = change_key(event)
    organizer = event["organizer"] or mailbox["mail"]
    is_organizer = organizer.lower() == mailbox["mail"].lower()
    body_text = event.get("body") or ""
    return {
        "@odata.type": GRAPH_EVENT_TYPE,
        "@odata.etag": f'W/"{tag}"',
        "id": event["id"],
        "createdDateTime": iso_z(event["created"]),
        "lastModifiedDateTime": iso_z(event["modified"]),
        "changeKey": tag,
        "categories": list(event["categories"]),
        "transactionId": None,
        "originalStartTimeZone": mailbox["time_zone"],
        "originalEndTimeZone": mailbox["time_zone"],
        "iCalUId": event["ical_uid"],
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": not event["is_all_day"],
        "hasAttachments": False,
        "subject": event["subject"],
        "bodyPreview": body_text[:255],
        "importance": "normal",
        "sensitivity": event["sensitivity"],
        "isAllDay": event["is_all_day"],
        "isCancelled": event["is_cancelled"],
        "isOrganizer": is_organizer,
        "responseRequested": True,
        "seriesMasterId": event["series_master_id"],
        "showAs": event["show_as"],
        "type": event["type"],
        "webLink": f"https://outlook.office365.com/owa/?itemid={event['id']}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {
            "response": "organizer" if is_organizer else event["response"],
            "time": "0001-01-01T00:00:00Z" if is_organizer else iso_z(event["modified"]),
        },
        "body": {"contentType": "text", "content": body_text},
        "start": {"dateTime": start_text, "timeZone": zone_name},
        "end": {"dateTime": end_text, "timeZone": zone_name},
        "location": {"displayName": event.get("location") or "", "locationType": "default"},
        "locations": [],
        "recurrence": None,
        "attendees": [],
        "organizer": {"emailAddress": {"name": organizer.split("@")[0].title(), "address": organizer}},
        "onlineMeeting": None,
    }


def removed_json(event_id: str, reason: str) -> dict[str, Any]:
    return {"@odata.type": GRAPH_EVENT_TYPE, "id": event_id, "@removed": {"reason": reason}}


def user_json(user: dict[str, Any], select: list[str] | None = None) -> dict[str, Any]:
    full = {
        "businessPhones": [],
        "displayName": user["display_name"],
        "givenName": user["display_name"].split()[0],
        "jobTitle": None,
        "mail": user["mail"],
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": user["display_name"].split()[-1],
        "userPrincipalName": user["upn"],
        "id": user["id"],
    }
    if select:
        return {key: full[key] for key in ["id", *select] if key in full}
    return full


def mailbox_settings_json(user: dict[str, Any], path_user: str) -> dict[str, Any]:
    return {
        "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{path_user}')/mailboxSettings",
        "archiveFolder": make_id("archive", user["id"]),
        "timeZone": user["time_zone"],
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": "2026-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2026-01-02T00:00:00.0000000", "timeZone": "UTC"},
        },
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": user["time_zone"]},
        },
        "userPurpose": "user",
        "dateFormat": "yyyy-MM-dd",
        "timeFormat": "HH:mm",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateAndInformationToPrincipal",
    }


def odata_error(code: str, message: str, when: datetime | None = None) -> dict[str, Any]:
    when = when or datetime.now(UTC)
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": when.strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": make_id("request", when.isoformat())[6:42],
                "client-request-id": make_id("client", when.isoformat())[6:42],
            },
        }
    }


def token_error(error: str, code: int, description: str, when: datetime | None = None) -> dict[str, Any]:
    """The identity platform's error body (``AADSTS<code>: …`` with trace and correlation ids)."""
    when = when or datetime.now(UTC)
    trace = "255d1aef-8c98-452f-ac51-" + hashlib.sha256(when.isoformat().encode()).hexdigest()[:12]
    stamp = when.strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
        f"Correlation ID: {trace}\r\nTimestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def day_span(start: date, days: int) -> tuple[date, date]:
    return start, start + timedelta(days=days)
