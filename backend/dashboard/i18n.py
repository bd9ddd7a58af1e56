"""Japanese and English: the message catalog and how a request's language is chosen.

The language is, in order: the user's own setting (``users.locale``), the ``cp_lang`` cookie
set by the language switch, the browser's ``Accept-Language``, then English.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from backend.dashboard.logins import Viewer

LANGUAGES = ("en", "ja")
LANG_COOKIE = "cp_lang"
DIMENSION_ORDER = ("channel", "source", "campaign", "ad_group", "keyword", "landing_page", "device")

# key: (English, 日本語)
_CATALOG: dict[str, tuple[str, str]] = {
    "app.name": ("callpath", "callpath"),
    "nav.reports": ("Reports", "レポート"),
    "nav.calls": ("Call log", "通話ログ"),
    "nav.live": ("Live", "着信通知"),
    "nav.pools": ("Pool health", "番号プール"),
    "nav.advertisers": ("Advertisers", "広告主"),
    "nav.settings": ("Settings", "設定"),
    "nav.sites": ("Sites", "サイト"),
    "nav.numbers": ("Numbers", "電話番号"),
    "nav.users": ("Users", "ユーザー"),
    "nav.tokens": ("API tokens", "APIトークン"),
    "nav.blocked": ("Blocked callers", "着信拒否"),
    "nav.notifications": ("Notifications", "通知先"),
    "nav.dead_letters": ("Unrecorded call events", "記録できなかった通話イベント"),
    "nav.batches": ("Conversion files", "コンバージョンファイル"),
    "batches.title": (
        "Conversion files sent to ad platforms",
        "広告媒体へのコンバージョンファイル",
    ),
    "batches.help": (
        "Every recorded offline conversion file. Download one again if it was lost or its"
        " upload failed; void one that never reached the platform, and its calls go into the"
        " next export again.",
        "記録済みのオフラインコンバージョンファイルです。ファイルを紛失した場合やアップロードに"
        "失敗した場合は再ダウンロードできます。媒体に届かなかったファイルを無効にすると、その"
        "通話は次回のエクスポートに再び含まれます。",
    ),
    "batches.none": ("No conversion file recorded yet.", "記録済みのファイルはまだありません。"),
    "batches.platform": ("Platform", "媒体"),
    "batches.rows": ("Calls", "件数"),
    "batches.by": ("By", "実行者"),
    "batches.download": ("Download again", "再ダウンロード"),
    "batches.void": ("Void", "無効にする"),
    "batches.voided": ("Voided", "無効"),
    "batches.no_file": ("file not kept", "ファイルなし"),
    "dead_letters.title": ("Unrecorded call events", "記録できなかった通話イベント"),
    "dead_letters.help": (
        "Call events the database refused several times while it accepted other writes."
        " They were set aside so that the calls after them could be recorded; the callers"
        " were forwarded as usual. Each is kept with the last error.",
        "データベースが他の書き込みを受け付けているのに、何度試しても保存できなかった通話イベントです。"
        "後続の通話を記録するために取り除かれました（発信者は通常どおり転送されています）。"
        "最後のエラーとともに保管しています。",
    ),
    "dead_letters.count": ("Set aside", "未記録の件数"),
    "dead_letters.none": (
        "None: every call event was recorded.",
        "ありません。すべての通話イベントを記録しました。",
    ),
    "dead_letters.provider": ("Provider", "事業者"),
    "dead_letters.call_id": ("Provider call id", "事業者の通話ID"),
    "dead_letters.attempts": ("Tries", "試行回数"),
    "dead_letters.error": ("Last error", "最後のエラー"),
    "nav.rules": ("Source and qualification rules", "参照元ルール・有効電話の条件"),
    "rules.title": ("Source rules", "参照元ルール"),
    "rules.help": (
        "Rules pick the number a visit is shown, in priority order: a landing-page parameter,"
        " the referrer's host or the classified source. Without a rule, the visit gets a"
        " number of the session pool.",
        "ルールは優先度順に、ランディングページのパラメータ、リファラーのホスト、"
        "分類された参照元を見て表示する番号を決めます。該当しない訪問にはプールの番号が"
        "割り当てられます。",
    ),
    "rules.kind.param": ("Landing-page parameter", "URLパラメータ"),
    "rules.kind.referrer": ("Referrer host", "リファラー"),
    "rules.kind.source": ("Classified source", "参照元分類"),
    "rules.action.number": ("Show a static number", "固定番号を表示"),
    "rules.action.pool": ("Lease from the pool", "プールから割当"),
    "rules.action.original": ("Keep the original number", "元の番号のまま"),
    "rules.match_key": ("Parameter / field", "パラメータ / 項目"),
    "rules.match_value": ("Value", "値"),
    "rules.priority": ("Priority", "優先度"),
    "rules.action": ("Then", "動作"),
    "rules.all_targets": ("Every business number", "すべての電話番号"),
    "rules.empty": ("No rules: every tracked visit gets a pool number.", "ルールはありません。"),
    "qual.title": ("Qualified calls (有効電話)", "有効電話の条件"),
    "qual.min_talk": ("Minimum talk time (seconds)", "最低通話時間 (秒)"),
    "qual.answered": ("Must be answered", "応答した電話のみ"),
    "qual.first_time": ("First-time callers only", "新規発信者のみ"),
    "qual.days": ("First time within (days, 0 = ever)", "新規とみなす期間 (日、0は全期間)"),
    "qual.admin_only": (
        "What counts is set by an administrator.",
        "有効電話の条件は管理者が設定します。",
    ),
    "blocked.title": ("Blocked callers", "着信拒否"),
    "blocked.kind.exact": ("This number", "番号"),
    "blocked.kind.prefix": ("Numbers starting with", "前方一致"),
    "blocked.pattern": ("Number or prefix", "番号または先頭"),
    "blocked.note": ("Note", "メモ"),
    "notify.title": ("Notification targets", "通知先"),
    "notify.address": ("Address (URL or e-mail)", "宛先 (URL・メール)"),
    "notify.secret": ("Signing secret (webhooks)", "署名キー (Webhook)"),
    "notify.event": ("When", "タイミング"),
    "notify.event.started": ("when a call starts", "着信時"),
    "notify.event.completed": ("when a call ends", "通話終了時"),
    "notify.kind.webhook": ("Webhook", "Webhook"),
    "notify.kind.email": ("E-mail", "メール"),
    "notify.inactive": ("stopped", "停止"),
    "delete": ("Delete", "削除"),
    "remove": ("Stop", "停止"),
    "nav.account": ("Account", "アカウント"),
    "nav.logout": ("Log out", "ログアウト"),
    "lang.switch": ("日本語", "English"),
    "login.title": ("Sign in", "ログイン"),
    "login.email": ("E-mail", "メールアドレス"),
    "login.password": ("Password", "パスワード"),
    "login.submit": ("Sign in", "ログイン"),
    "login.failed": ("E-mail or password is wrong.", "メールアドレスまたはパスワードが違います。"),
    "login.throttled": (
        "Too many failed sign-ins. Try again in {minutes} min.",
        "ログインの失敗が多すぎます。{minutes} 分後にもう一度お試しください。",
    ),
    "logout.confirm": ("Log out of callpath?", "callpath からログアウトしますか？"),
    "filter.site": ("Site", "サイト"),
    "filter.all_sites": ("All sites", "すべてのサイト"),
    "filter.from": ("From", "開始日"),
    "filter.to": ("To", "終了日"),
    "filter.by": ("By", "集計軸"),
    "filter.apply": ("Show", "表示"),
    "filter.advertiser": ("Advertiser", "広告主"),
    "dim.channel": ("Channel", "チャネル"),
    "dim.source": ("Source", "参照元"),
    "dim.campaign": ("Campaign", "キャンペーン"),
    "dim.ad_group": ("Ad group", "広告グループ"),
    "dim.keyword": ("Keyword", "キーワード"),
    "dim.landing_page": ("Landing page", "ランディングページ"),
    "dim.device": ("Device", "デバイス"),
    "col.sessions": ("Sessions", "セッション"),
    "col.calls": ("Calls", "電話数"),
    "col.answered": ("Answered", "応答"),
    "col.qualified": ("Qualified calls", "有効電話"),
    "col.first_time": ("First-time callers", "新規発信者"),
    "col.conversion": ("Call conversion", "電話CV率"),
    "col.talk_minutes": ("Talk minutes", "通話分数"),
    "col.time": ("Time", "日時"),
    "col.caller": ("Caller", "発信者"),
    "col.tracking_number": ("Tracking number", "計測番号"),
    "col.branch": ("Branch", "着信先"),
    "col.talk": ("Talk time", "通話時間"),
    "col.status": ("Status", "状態"),
    "col.recording": ("Recording", "録音"),
    "col.matched": ("Matched by", "紐付け方法"),
    "col.site": ("Site", "サイト"),
    "col.name": ("Name", "名前"),
    "col.number": ("Number", "番号"),
    "col.forward_to": ("Forwards to", "転送先"),
    "col.kind": ("Kind", "種別"),
    "col.pool": ("Pool", "プール"),
    "col.label": ("Label", "ラベル"),
    "col.domains": ("Domains", "ドメイン"),
    "col.timezone": ("Timezone", "タイムゾーン"),
    "col.role": ("Role", "権限"),
    "col.email": ("E-mail", "メールアドレス"),
    "col.created": ("Created", "作成日時"),
    "col.last_used": ("Last used", "最終利用"),
    "col.actions": ("Actions", "操作"),
    "col.size": ("Numbers", "番号数"),
    "col.in_use": ("In use", "使用中"),
    "col.utilization": ("Utilization", "使用率"),
    "col.peak": ("Peak use (7 days)", "ピーク使用率 (7日)"),
    "col.exhausted": ("Ran out (7 days / all)", "枯渇回数 (7日 / 累計)"),
    "col.recommended": ("Recommended size", "推奨番号数"),
    "col.alert": ("Alert", "アラート"),
    "col.ttl": ("Lease time", "リース時間"),
    "col.can_see_callers": ("Sees caller numbers", "発信者番号を表示"),
    "col.locale": ("Language", "言語"),
    "none": ("(none)", "(なし)"),
    "call.qualified": ("Qualified", "有効電話"),
    "channel.paid_search": ("Paid search", "リスティング広告"),
    "channel.organic": ("Organic search", "自然検索"),
    "channel.paid_social": ("Paid social", "SNS広告"),
    "channel.social": ("Social", "SNS"),
    "channel.referral": ("Referral", "参照サイト"),
    "channel.direct": ("Direct", "直接"),
    "channel.email": ("E-mail", "メール"),
    "channel.display": ("Display ads", "ディスプレイ広告"),
    "channel.affiliate": ("Affiliate", "アフィリエイト"),
    "channel.offline": ("Offline / static number", "オフライン・固定番号"),
    "total": ("Total", "合計"),
    "yes": ("yes", "はい"),
    "no": ("no", "いいえ"),
    "save": ("Save", "保存"),
    "add": ("Add", "追加"),
    "create": ("Create", "作成"),
    "revoke": ("Revoke", "無効化"),
    "retire": ("Retire", "停止"),
    "open": ("Open", "開く"),
    "copy": ("Copy", "コピー"),
    "copied": ("Copied", "コピーしました"),
    "back": ("Back", "戻る"),
    "more": ("Older calls", "さらに表示"),
    "play": ("Play", "再生"),
    "reports.title": ("Calls by source and keyword", "参照元・キーワード別の電話"),
    "reports.chart_days": ("Calls per day by channel", "チャネル別 日別電話数"),
    "reports.chart_sources": ("Calls by source", "参照元別 電話数"),
    "reports.empty": (
        "No sessions or calls in this range.",
        "この期間のセッション・電話はありません。",
    ),
    "reports.no_calls": ("No calls in this range.", "この期間の電話はありません。"),
    "reports.sort_hint": ("Click a column to sort.", "列名をクリックで並べ替え"),
    "calls.title": ("Call log", "通話ログ"),
    "calls.empty": ("No calls yet.", "まだ電話はありません。"),
    "calls.export": (
        "Download these calls with their visits' paths (CSV):",
        "表示中の通話と訪問経路をダウンロード (CSV):",
    ),
    "calls.drill_clear": ("Show every call of the range", "絞り込みを解除"),
    "calls.export_wide": ("a row per call", "通話ごとに1行"),
    "calls.export_long": ("a row per page view", "ページビューごとに1行"),
    "calls.export_qualified": ("qualified calls only", "有効電話のみ"),
    "call.title": ("Call", "通話"),
    "call.session": ("Session", "セッション"),
    "call.no_session": (
        "This call was not matched to a visit.",
        "この電話はWebセッションに紐付いていません。",
    ),
    "call.path": ("Pages before the call", "電話までのページ遷移"),
    "call.click_ids": ("Click ids", "クリックID"),
    "call.place": ("Place", "地域"),
    "call.landing": ("Landing page", "ランディングページ"),
    "call.referrer": ("Referrer", "リファラー"),
    "call.candidates": ("Candidate sessions", "候補セッション数"),
    "call.started": ("Call started", "着信"),
    "call.browser": ("Browser", "ブラウザ"),
    "call.first_time": ("First-time caller", "新規発信者"),
    "call.forwarded": ("Forwarded to", "転送先"),
    "call.carrier_id": ("Carrier call id", "通信事業者の通話ID"),
    "match.lease": ("Visit (leased number)", "訪問 (リース番号)"),
    "match.repeat_caller": ("Repeat caller", "リピート発信者"),
    "match.ambiguous": ("Ambiguous", "複数候補"),
    "match.overflow": ("Overflow number", "オーバーフロー番号"),
    "match.static_source": ("Static source number", "固定参照元番号"),
    "match.none": ("Not matched", "紐付けなし"),
    "match.code": ("Visit code", "任意番号"),
    "col.confidence": ("Confidence", "確度"),
    "confidence.exact": ("Exact", "確定"),
    "confidence.high": ("High", "高"),
    "confidence.medium": ("Medium", "中"),
    "confidence.low": ("Low", "低"),
    "filter.confidence": ("Confidence at least", "確度 (以上)"),
    "filter.any_confidence": ("Any call", "すべての通話"),
    "call.reason": ("Why", "判定の根拠"),
    "codes.title": ("Fixed codes for offline media", "オフライン媒体の任意番号"),
    "codes.help": (
        "Digits dialled after a shared source number name the medium (flyer A = 11, radio ="
        " 12); the call is credited to its label and campaign.",
        "共通の参照元番号の後にダイヤルされた番号で媒体を判別します (チラシA = 11、ラジオ = 12)。"
        "通話はそのラベルとキャンペーンに計上されます。",
    ),
    "codes.code": ("Code", "任意番号"),
    "call.code": ("Digits dialled", "ダイヤルされた任意番号"),
    "code_kind.visit": ("names the visit", "訪問の番号"),
    "code_kind.fixed": ("fixed code of an offline medium", "オフライン媒体の固定番号"),
    "code_kind.none": ("names no code", "該当なし"),
    "reason.fixed_code": (
        "The caller dialled a fixed code given to an offline medium.",
        "発信者がオフライン媒体の固定任意番号をダイヤルした。",
    ),
    "call.candidate_ids": ("Sessions considered", "候補セッション"),
    "reason.code": (
        "The caller dialled the visit's code.",
        "発信者が訪問の任意番号をダイヤルした。",
    ),
    "reason.caller_before": (
        "The caller's earlier confident call went to this visit.",
        "同じ発信者の以前の確度の高い通話がこの訪問に紐付いている。",
    ),
    "reason.caller_before_other_number": (
        "The caller's earlier confident call went to this visit, which held another number;"
        " nobody holds this one.",
        "同じ発信者の以前の確度の高い通話がこの訪問 (別の番号) に紐付いており、"
        "この番号は誰も保持していない。",
    ),
    "reason.page_open": (
        "The visitor's page was still open (sending heartbeats) when the phone rang.",
        "着信時、訪問者のページはまだ開いていた (ハートビート受信中)。",
    ),
    "reason.page_closed": (
        "The number was still leased, but the visitor's page had stopped sending heartbeats.",
        "番号はリース中だったが、訪問者のページからのハートビートは止まっていた。",
    ),
    "reason.grace": (
        "The lease had ended; the call came within the grace window.",
        "リース終了後、猶予時間内の着信。",
    ),
    "reason.late_call_window": (
        "Another visitor let this number go within the late-call window and may be calling"
        " back late: both are candidates.",
        "別の訪問者が遅延着信ウィンドウ内にこの番号を手放しており、その訪問者からの遅れた"
        "着信の可能性がある (両方を候補として保持)。",
    ),
    "reason.page_closed_late_call": (
        "The visitor's page had closed, and another visitor let this number go within twice"
        " the late-call window: both are candidates.",
        "訪問者のページは閉じており、別の訪問者が遅延着信ウィンドウの2倍の時間内にこの番号を"
        "手放していた (両方を候補として保持)。",
    ),
    "reason.caller_before_uncertain": (
        "The caller's earlier call was not confidently matched, and not to this visit alone.",
        "同じ発信者の以前の通話は確度が低く、この訪問だけに紐付いていなかった。",
    ),
    "reason.several_holders": (
        "Several visitors held the number.",
        "複数の訪問者がこの番号を保持していた。",
    ),
    "reason.no_holder": (
        "Nobody held the number at the call or within the grace window.",
        "着信時にも猶予時間内にも、この番号を保持する訪問者はいなかった。",
    ),
    "status.ringing": ("ringing", "呼出中"),
    "status.in-progress": ("in progress", "通話中"),
    "status.completed": ("completed", "完了"),
    "status.busy": ("busy", "話中"),
    "status.no-answer": ("no answer", "不在"),
    "status.failed": ("failed", "失敗"),
    "status.canceled": ("canceled", "キャンセル"),
    "live.title": ("Incoming calls", "着信通知"),
    "live.waiting": ("Waiting for calls…", "着信を待っています…"),
    "live.connected": ("Live", "接続中"),
    "live.disconnected": ("Reconnecting…", "再接続中…"),
    "live.sound": ("Sound on a new call", "着信時に音を鳴らす"),
    "live.notify": ("Desktop notification", "デスクトップ通知"),
    "live.notify_denied": (
        "Notifications are blocked for this site in the browser's settings.",
        "このサイトの通知はブラウザの設定でブロックされています。",
    ),
    "live.notify_unsupported": (
        "This browser cannot show notifications.",
        "このブラウザは通知を表示できません。",
    ),
    "live.new_call": ("New call", "新しい着信"),
    "live.options_help": (
        "Kept in this browser only.",
        "この設定はこのブラウザにだけ保存されます。",
    ),
    "pools.title": ("Pool health", "番号プールの状態"),
    "pools.note": (
        "Utilization is the share of the pool's numbers leased right now; peak use is the"
        " highest hourly utilization of the last 7 days. The recommended size follows from"
        " the busiest hour's arrivals and how long a number stays held and resting"
        " (with 50% spare); an alert shows when the peak passed 75%.",
        "使用率は現在リース中の番号の割合、ピーク使用率は過去7日間で最も高かった1時間の"
        "使用率です。推奨番号数は最も混んだ1時間の訪問数と、番号の保持・休止時間から"
        "算出しています (50%の余裕込み)。ピークが75%を超えるとアラートを表示します。",
    ),
    "pools.alert_exhausted": ("Pool ran out of numbers", "番号が不足しました"),
    "pools.alert_high": ("Nearly full", "残りわずか"),
    "pools.ok": ("OK", "正常"),
    "pools.ttl": ("Lease idle time (minutes)", "リース保持時間 (分)"),
    "pools.grace": ("Matchable after the end (minutes)", "終了後の紐付け猶予 (分)"),
    "pools.cooldown": ("Rest before reuse (minutes)", "再利用までの休止 (分)"),
    "advertisers.title": ("Calls per advertiser", "広告主別の電話数"),
    "advertisers.note": (
        "Counts for performance-based billing: every call to the advertiser's tracking"
        " numbers in the range, and those qualified by its rules.",
        "成果報酬の請求用の集計です。期間内に広告主の計測番号へ入った電話と、"
        "有効電話の条件を満たした電話の数です。",
    ),
    "advertisers.new": ("New advertiser", "広告主を追加"),
    "advertisers.report": ("Report", "レポート"),
    "sites.title": ("Sites", "サイト"),
    "sites.new": ("New site", "サイトを追加"),
    "sites.snippet": ("Snippet tag", "計測タグ"),
    "sites.snippet_help": (
        "Paste this tag into every page of the site, before </body>.",
        "このタグをサイトの全ページの </body> の前に貼り付けてください。",
    ),
    "sites.targets": ("Business numbers on the pages", "ページに掲載している電話番号"),
    "sites.add_target": ("Add a business number", "電話番号を追加"),
    "sites.key": ("Site key", "サイトキー"),
    "sites.domains_help": ("Host names, comma-separated", "ホスト名 (カンマ区切り)"),
    "start.title": ("Getting started", "はじめに"),
    "start.intro": (
        "Six steps make callpath count your calls. This list goes away once each is done.",
        "次の6つの手順で電話の計測が始まります。すべて完了するとこの一覧は消えます。",
    ),
    "start.done": ("done", "完了"),
    "start.todo": ("to do", "未完了"),
    "start.advertiser": ("Create an advertiser", "広告主を作成"),
    "start.advertiser_help": (
        "The business whose calls are counted. Sites, numbers, calls and reports belong to"
        " one; a portal runs many.",
        "電話を計測する事業者です。サイト・番号・電話・レポートは広告主ごとに分かれます"
        " (メディア運営企業は複数を管理できます)。",
    ),
    "start.site": ("Add a site and copy its snippet tag", "サイトを追加して計測タグをコピー"),
    "start.site_help": (
        "The website visitors come to. Paste its snippet tag into every page, before </body>:"
        " it swaps the phone number for a tracking number.",
        "訪問者が来るWebサイトです。計測タグを全ページの </body> の前に貼り付けると、"
        "電話番号が計測番号に置き換わります。",
    ),
    "start.targets": ("Add the business numbers", "掲載している電話番号を追加"),
    "start.targets_help": (
        "The phone numbers printed on the site's pages. Calls to tracking numbers are"
        " forwarded here; each gets a pool of tracking numbers.",
        "サイトに掲載している電話番号です。計測番号への電話はここへ転送されます。"
        "番号ごとに計測番号のプールが作られます。",
    ),
    "start.numbers": ("Add tracking numbers", "計測番号を追加"),
    "start.numbers_help": (
        "Numbers rented from your carrier (Twilio), pasted or uploaded as CSV. Each visit is"
        " shown one, so a call tells which visit, source and keyword led to it.",
        "通信事業者 (Twilio) から借りた番号を貼り付けるか CSV でアップロードします。"
        "訪問ごとに1つ表示されるので、電話がどの訪問・参照元・キーワードから来たか分かります。",
    ),
    "start.tag": ("See the tag at work on your site", "サイトでタグの動作を確認"),
    "start.tag_help": (
        "Open a page of the site that carries the tag: its number changes, and this step"
        " shows where and when the tag was last seen.",
        "タグを貼ったページを開くと番号が置き換わり、この手順にタグを最後に確認した"
        "場所と時刻が表示されます。",
    ),
    "start.tag_seen": ("tag seen on {origin} at {time}", "{origin} で {time} にタグを確認"),
    "start.call": ("Make a test call", "テスト電話をかける"),
    "start.call_help": (
        "Call a tracking number you were shown, or place a test call here: it goes through"
        " the real call path and appears in the call log, matched to its visit.",
        "表示された計測番号に電話するか、ここからテスト電話をかけます。実際と同じ経路で"
        "処理され、訪問と紐付いて通話ログに表示されます。",
    ),
    "start.test_call": ("Place a test call", "テスト電話をかける"),
    "sites.need_advertiser": (
        "A site belongs to an advertiser: create one first.",
        "サイトは広告主に属します。先に広告主を作成してください。",
    ),
    "sites.tag_seen": ("Where the tag was seen", "タグの確認状況"),
    "sites.tag_seen_none": (
        "Not seen yet: open a page of the site that carries the tag.",
        "まだ確認できていません。タグを貼ったページを開いてください。",
    ),
    "sites.origin": ("Page origin", "ページのオリジン"),
    "sites.last_seen": ("Last page view", "最終ページビュー"),
    "numbers.title": ("Tracking numbers", "計測用電話番号"),
    "numbers.add": ("Add a tracking number", "計測番号を追加"),
    "numbers.source_label": ("Source label (static numbers)", "参照元ラベル (固定番号)"),
    "numbers.kind.pool": ("pool (per visit)", "プール (訪問ごと)"),
    "numbers.kind.source": ("static source", "固定参照元"),
    "numbers.kind.overflow": ("overflow", "オーバーフロー"),
    "numbers.status.active": ("active", "有効"),
    "numbers.status.retiring": ("retiring", "停止予定"),
    "numbers.status.retired": ("retired", "停止"),
    "numbers.destination_flag": (
        "destination no longer allowed; calls still go there",
        "許可されていない転送先 (転送は続いています)",
    ),
    "numbers.added": ("{n} number(s) added.", "{n} 件の番号を追加しました。"),
    "numbers.refused": (
        "{n} row(s) refused; nothing was stored:",
        "{n} 行を受け付けられませんでした。何も保存していません:",
    ),
    "numbers.row": ("Line", "行"),
    "numbers.where_title": ("Where tracking numbers come from", "計測番号の入手方法"),
    "numbers.where_help": (
        "Tracking numbers are phone numbers you rent from a carrier such as Twilio (Twilio"
        " console → Phone Numbers → Buy a number), of the same country as the business"
        " number they stand in for. Each visit is shown one of its pool's numbers; a call to"
        " it is forwarded to the business number and matched to the visit.",
        "計測番号は Twilio などの通信事業者から借りる電話番号です (Twilio コンソール →"
        " Phone Numbers → Buy a number)。置き換える電話番号と同じ国の番号を用意します。"
        "訪問ごとにプールの番号が1つ表示され、その番号への電話は元の電話番号へ転送され、"
        "訪問と紐付けられます。",
    ),
    "numbers.webhook_help": (
        'In the Twilio console, set each number\'s Voice webhook ("A call comes in", HTTP'
        " POST) to this address:",
        "Twilio コンソールで各番号の Voice の Webhook (「A call comes in」、HTTP POST) に"
        "次のアドレスを設定してください:",
    ),
    "numbers.no_pools": (
        "No pool yet: add a business number to a site first; it gets a pool.",
        "プールがまだありません。先にサイトに電話番号を追加してください (プールが作られます)。",
    ),
    "numbers.bulk": ("Paste many numbers", "まとめて貼り付け"),
    "numbers.bulk_help": (
        "One number per line (or separated by commas). Every number is checked first: all"
        " are added, or none and each problem is listed with its line.",
        "1行に1番号 (カンマ区切りも可)。すべての番号を先に確認し、すべて追加するか、"
        "問題があれば何も追加せず行ごとに理由を表示します。",
    ),
    "numbers.paste": ("Numbers", "電話番号"),
    "numbers.add_all": ("Add all", "すべて追加"),
    "numbers.upload": ("Upload a CSV file", "CSVファイルをアップロード"),
    "numbers.upload_help": (
        "The format of `callpath numbers import` (docs/numbers.md): a header row with a"
        " number column, and optionally kind, site, target, forward_to, label. UTF-8 or"
        " Shift_JIS. Rows without a site or target go to the chosen pool. All rows or none.",
        "`callpath numbers import` と同じ形式 (docs/numbers.md): 見出し行に number 列"
        " (任意で kind, site, target, forward_to, label)。UTF-8 または Shift_JIS。"
        "site・target のない行は選んだプールに入ります。すべて追加するか、何も追加しません。",
    ),
    "numbers.csv_file": ("CSV file", "CSVファイル"),
    "numbers.import": ("Import", "インポート"),
    "users.title": ("Users", "ユーザー"),
    "users.new": ("New user", "ユーザーを追加"),
    "users.role.admin": ("Administrator (every advertiser)", "管理者 (すべての広告主)"),
    "users.role.member": ("Advertiser member", "広告主メンバー"),
    "users.new_password": (
        "New password (leave empty to keep)",
        "新しいパスワード (空欄で変更なし)",
    ),
    "tokens.title": ("API tokens", "APIトークン"),
    "tokens.new": ("New token", "トークンを作成"),
    "tokens.shown_once": (
        "Copy this token now: it is shown only once.",
        "このトークンを今コピーしてください。再表示はできません。",
    ),
    "tokens.revoked": ("revoked", "無効"),
    "tokens.all_advertisers": ("every advertiser", "すべての広告主"),
    "tokens.access": ("Access", "権限"),
    "tokens.read_only": ("Read only", "読み取り専用"),
    "tokens.read_write": ("Read and write", "読み取りと変更"),
    "tokens.read_only_help": (
        "A read-only token may only read (GET); every change is refused with 403.",
        "読み取り専用トークンは取得 (GET) のみ可能で、変更はすべて 403 で拒否されます。",
    ),
    "tokens.scope_help": (
        "A token never does more than its user may do at the time of each request.",
        "トークンの権限は、各リクエストの時点でユーザーが持つ権限を超えません。",
    ),
    "users.disabled": (
        "Disabled (cannot sign in; API tokens revoked)",
        "無効 (ログイン不可・APIトークン失効)",
    ),
    "users.status.disabled": ("disabled", "無効"),
    "account.title": ("Your account", "アカウント"),
    "account.current_password": (
        "Current password (needed to change it)",
        "現在のパスワード (変更する場合に必要)",
    ),
    "account.new_password": (
        "New password (leave empty to keep)",
        "新しいパスワード (空欄で変更なし)",
    ),
    "account.password_changed": (
        "Password changed. Your other sign-ins were signed out.",
        "パスワードを変更しました。他の端末のログインは終了しました。",
    ),
    "account.saved": ("Saved.", "保存しました。"),
    "account.auto": ("Browser's language", "ブラウザの言語"),
    "setup.title": ("Set up callpath", "callpath の初期設定"),
    "setup.intro": (
        "No user exists yet. Create the first administrator: it manages advertisers, sites,"
        " numbers and the other users.",
        "まだユーザーがいません。最初の管理者を作成してください。管理者は広告主・サイト・"
        "電話番号・ほかのユーザーを管理します。",
    ),
    "setup.where_code": (
        "The one-time set-up code was printed by `callpath serve` when it started (and is in"
        " the server log). It keeps a stranger who finds this new install from taking it."
        " Without it, run `callpath users create --email you@example.jp --role admin` on the"
        " server.",
        "ワンタイムの設定コードは `callpath serve` の起動時に表示されています (サーバーの"
        "ログにもあります)。新しいサーバーを他人に乗っ取られないためのものです。コードが"
        "ない場合は、サーバーで `callpath users create --email you@example.jp --role admin` を"
        "実行してください。",
    ),
    "setup.code": ("Set-up code", "設定コード"),
    "setup.password": ("Password (8 characters or more)", "パスワード (8文字以上)"),
    "setup.submit": ("Create the administrator", "管理者を作成"),
    "setup.bad_code": (
        "The set-up code is wrong, used or expired. Restart `callpath serve` for a new one.",
        "設定コードが違うか、使用済みまたは期限切れです。`callpath serve` を再起動すると"
        "新しいコードが表示されます。",
    ),
    "setup.bad_email": ("Enter an e-mail address.", "メールアドレスを入力してください。"),
    "setup.bad_password": (
        "A password has 8 to 1024 characters.",
        "パスワードは8文字以上1024文字以下です。",
    ),
    "error.title": ("Something is not right", "エラーが発生しました"),
    "error.home": ("Back to the dashboard", "ダッシュボードへ戻る"),
    # Working a call by hand (call page, outcome list).
    "work.title": ("Work this call", "この通話の対応"),
    "work.qualified": ("Qualified", "有効電話の判定"),
    "work.keep": ("Keep", "変更しない"),
    "work.by_hand": ("set by hand", "手動"),
    "work.by_rules": ("by the site's rules", "サイトの判定ルール"),
    "work.set_yes": ("Qualified (set by hand)", "有効にする (手動)"),
    "work.set_no": ("Not qualified (set by hand)", "無効にする (手動)"),
    "work.back_to_rules": ("Back to the site's rules", "判定ルールに戻す"),
    "work.reason": ("Reason", "理由"),
    "work.tags": ("Tags (comma separated)", "タグ (カンマ区切り)"),
    "work.note": ("Note", "メモ"),
    "work.outcome": ("Outcome", "結果"),
    "work.value": ("Value (yen)", "金額 (円)"),
    "work.save": ("Save", "保存"),
    "work.history": ("Changes", "変更履歴"),
    "work.no_history": ("Nothing changed by hand yet.", "まだ手動の変更はありません。"),
    "work.caller_history": ("The caller's other calls", "この発信者の他の通話"),
    "work.no_caller_history": (
        "No other calls from this caller.",
        "この発信者からの他の通話はありません。",
    ),
    "work.field": ("Field", "項目"),
    "work.before": ("Before", "変更前"),
    "work.after": ("After", "変更後"),
    "work.who": ("Who", "変更者"),
    "work.error.qualified": ("Choose a verdict from the list.", "判定を一覧から選んでください。"),
    "work.error.qualified_reason": (
        "Say why (up to 200 characters): the verdict is kept with its reason.",
        "理由を200文字以内で入力してください (判定と一緒に記録されます)。",
    ),
    "work.error.tags": (
        "Up to 20 tags of at most 40 characters each, separated by commas.",
        "タグは1つ40文字以内、20個までです (カンマ区切り)。",
    ),
    "work.error.note": ("The note is at most 2,000 characters.", "メモは2,000文字以内です。"),
    "work.error.outcome_id": ("Choose an outcome from the list.", "結果を一覧から選んでください。"),
    "work.error.value_yen": (
        "Enter a whole number of yen, 0 or more.",
        "金額は0以上の整数 (円) で入力してください。",
    ),
    "work.error.label": (
        "Give the outcome a name of up to 60 characters that is not in the list yet.",
        "60文字以内で、一覧にまだない名前を入力してください。",
    ),
    "work.error.kind": ("Choose a kind from the list.", "種類を一覧から選んでください。"),
    "outcome.won": ("Won", "成約"),
    "outcome.open": ("Prospect", "見込み"),
    "outcome.lost": ("Lost", "不成立"),
    "outcomes.title": ("Call outcomes", "通話結果の選択肢"),
    "outcomes.intro": (
        "The outcomes people can give a call on its page, in this order. Add the reasons a "
        "lead is lost (for example 'NG: price') as outcomes of kind 'lost'.",
        "通話ページで選べる結果です。"
        "失注理由 (例:「NG: 価格」) は種類「不成立」で追加してください。",
    ),
    "outcomes.kind": ("Kind", "種類"),
    "outcomes.name": ("Name", "名前"),
    "outcomes.add": ("Add", "追加"),
    "outcomes.retire": ("Remove from the list", "一覧から外す"),
    "outcomes.empty": (
        "No outcomes yet: add the first one below.",
        "まだ選択肢がありません。下から追加してください。",
    ),
    "nav.outcomes": ("Outcomes", "通話結果"),
    # Layout: the menu on narrow screens and the names of landmarks for screen readers.
    "nav.menu": ("Menu", "メニュー"),
    "nav.main": ("Main", "メイン"),
    # Confirmation before a destructive action (the first click asks, the second acts).
    "confirm.yes": ("Yes, {action}", "{action}する"),
    "confirm.fixed_code": (
        "Delete this fixed code? Calls that dial it afterwards are matched as ordinary calls.",
        "この固定コードを削除しますか? "
        "以後このコードをダイヤルした電話は通常の電話として照合されます。",
    ),
    "confirm.retire": (
        "Retire this number? Visitors are no longer shown it; a visitor who holds it now keeps"
        " it until the lease ends. This cannot be undone here.",
        "この番号を停止しますか? 訪問者に表示されなくなります (表示中の訪問者にはリース終了まで"
        "表示されます)。ここでは元に戻せません。",
    ),
    "confirm.delete_rule": (
        "Delete this rule? Visits it matched get pool numbers again.",
        "このルールを削除しますか? 該当していた訪問には再びプールの番号が表示されます。",
    ),
    "confirm.unblock": (
        "Remove this block? Calls from these numbers ring through again.",
        "この着信拒否を解除しますか? これらの番号からの電話が再びつながります。",
    ),
    "confirm.remove_notification": (
        "Stop sending notifications to this address?",
        "この宛先への通知を停止しますか?",
    ),
    "confirm.revoke": (
        "Revoke this token? Scripts that use it stop working at once. This cannot be undone.",
        "このトークンを無効にしますか? 使っているスクリプトはすぐに動かなくなります。"
        "元に戻せません。",
    ),
    "confirm.void": (
        "Void this file? Its calls go into the next conversion file again.",
        "このファイルを無効にしますか? 含まれていた電話は次のファイルに再び入ります。",
    ),
    "confirm.disable_user": (
        "Disable {email}? They are signed out and can no longer sign in.",
        "{email} を無効にしますか? ログアウトされ、ログインできなくなります。",
    ),
    # Empty lists: what is missing and what to do about it.
    "empty.numbers": (
        "No tracking numbers yet. Buy numbers from your carrier (Twilio), then paste them below"
        " or upload a CSV; each goes into the pool of a business number.",
        "計測番号はまだありません。通信事業者 (Twilio) で番号を購入し、下に貼り付けるか CSV で"
        "アップロードしてください。番号は電話番号ごとのプールに入ります。",
    ),
    "empty.sites": (
        "No sites yet. Create one for each website below; then paste its tag into every page.",
        "サイトはまだありません。下でWebサイトごとに作成し、計測タグを全ページに貼り付けてください。",
    ),
    "empty.targets": (
        "No business numbers yet. Add the phone number your site shows below: callpath swaps"
        " it for tracking numbers from its pool.",
        "掲載している電話番号はまだありません。サイトに載っている番号を下で追加すると、"
        "その番号がプールの計測番号に置き換わります。",
    ),
    "empty.blocked": (
        "Nobody is blocked. Add a number or a prefix below to refuse its calls (sales, spam).",
        "着信拒否はありません。営業電話や迷惑電話の番号または先頭番号を下で追加してください。",
    ),
    "empty.notifications": (
        "No notifications are sent. Add an e-mail address or a webhook below to hear about"
        " each call.",
        "通知先はありません。電話ごとに知らせを受けるメールアドレスまたは Webhook を"
        "下で追加してください。",
    ),
    "empty.tokens": (
        "No API tokens. Create one below for a script or BI tool that reads calls and reports.",
        "APIトークンはありません。通話やレポートを読むスクリプトやBIツール用に下で作成してください。",
    ),
    "empty.advertisers": (
        "No advertisers yet. Create the first one below: sites, numbers and reports belong"
        " to an advertiser.",
        "広告主はまだありません。下で作成してください。サイト・番号・レポートは広告主ごとに分かれます。",
    ),
    "empty.advertisers_member": (
        "No advertiser is shared with you yet: ask an administrator.",
        "閲覧できる広告主がまだありません。管理者に依頼してください。",
    ),
    "empty.pools": (
        "No number pools yet. A pool is made for each business number of a site: add the"
        " number on the site's page.",
        "番号プールはまだありません。サイトのページで掲載電話番号を追加すると、番号ごとにプールが作られます。",
    ),
    "empty.batches": (
        "No conversion file yet. A file is recorded each time calls are exported for Google,"
        " Yahoo! JAPAN or Microsoft Ads (callpath conversions or the API).",
        "コンバージョンファイルはまだありません。Google・Yahoo! JAPAN・Microsoft 広告向けに"
        "電話を書き出すたびに記録されます (callpath conversions または API)。",
    ),
    "empty.calls": (
        "No calls match these dates and filters. Calls appear here when someone dials one of"
        " your tracking numbers: widen the dates, or check that the site has tracking numbers.",
        "この期間・条件に合う電話はありません。計測番号に電話がかかるとここに表示されます。"
        "期間を広げるか、サイトに計測番号があるか確認してください。",
    ),
    "empty.report": (
        "No visits or calls in this range. Visits are counted once the site's tag is on its"
        " pages: widen the dates, or check the tag on the site's page.",
        "この期間の訪問・電話はありません。サイトのページに計測タグがあれば訪問が数えられます。"
        "期間を広げるか、サイトのページでタグを確認してください。",
    ),
}


def _pick(accept: str) -> str | None:
    best: tuple[float, str] | None = None
    for part in accept.split(",")[:20]:
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.strip().lower().split("-")[0]
        if lang in LANGUAGES and (best is None or q > best[0]):
            best = (q, lang)
    return best[1] if best and best[0] > 0 else None


def choose(request: Request, viewer: Viewer | None) -> str:
    """The language of this response: user setting, cookie, Accept-Language, English."""
    if viewer is not None and viewer.locale in LANGUAGES:
        return viewer.locale
    cookie = request.cookies.get(LANG_COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return _pick(request.headers.get("accept-language", "")[:500]) or "en"


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` for one language; an unknown key shows itself (and a test catches it)."""
    index = 1 if lang == "ja" else 0

    def t(key: str) -> str:
        entry = _CATALOG.get(key)
        return entry[index] if entry else key

    return t


def value_label(t: Callable[[str], str], dimension: str, key: str) -> str:
    """How a report key reads: '(none)' for empty, known channels in words, else the key."""
    if not key:
        return t("none")
    if dimension == "channel":
        label = t("channel." + key)
        return key if label == "channel." + key else label
    return key


def keys() -> set[str]:
    """Every key of the catalog."""
    return set(_CATALOG)
