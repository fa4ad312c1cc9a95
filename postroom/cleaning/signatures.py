"""Closings, signatures and disclaimers in the client's own lines (after quotes are set aside).

Labels given to lines of the newest message:

* ``closing`` — the sign-off ("Best regards", "Mit freundlichen Grüßen", "Ystävällisin terveisin",
  "Vänliga hälsningar", "Thanks very much", …) and the name under it ("i. A. Nadine Kröger" too; a second
  name-like line only when it does not head a contact block), also where the name heads a contact
  block after a blank line or, in HTML, the mail client's signature container. Kept in the cleaned text, as
  the fixtures do (Quagga labels them Body, talon's and email_reply_parser's expected replies keep them);
  counted so that a caller can drop them.
* ``signature`` — everything after a "-- " delimiter (not a "--" between parts of the client's text: one
  with a sentence and a closing, or a question, under it), mobile signatures ("Sent from my iPhone",
  "Von meinem iPhone gesendet", "Lähetetty iPhonesta"), and contact blocks (name with title, company,
  address, phone, e-mail, web) at the end of the message or after the closing, a lone title line under the
  closing's name included. Removed. Addresses include German and Finnish one-word streets ("Musterstraße 5",
  "Mannerheimintie 12 A 5"), postcode + city ("80331 München", "1010 Wien", "00100 Helsinki") and UK
  postcodes ("BS2 0XJ"). An address is content, not signature, when a line above
  announces it ("Meine neue Anschrift lautet:"), in a P.S., inside a sentence, or, with no closing, at the end
  of a message about a change of address.
* ``disclaimer`` — legal disclaimers, confidentiality notices, impressums (Sitz der Gesellschaft,
  Registergericht, HRB, Y-tunnus, Kotipaikka …, also written in sentences under the closing), mailing-list
  footers, virus-scan footers of mail gateways and external-sender banners, in English, German and Finnish
  (confidentiality notices in Swedish too). Removed, with what follows them. A Teams meeting's join block is
  removed alone, wherever it stands.
  Legal words in the client's own text are not a disclaimer: the phrases need the context a disclaimer
  gives them ("if you have received this e-mail in error", not "I received an e-mail in error"), and a
  paragraph with a sign-off after it or announced by the line above it is the client's; only a banner
  ("[EXTERNAL] This email originated outside …") is removed from the top.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from postroom.cleaning.patterns import EMAIL, IBAN, PHONE_LABEL, URL, phone_like

MAX_SIGNATURE_LINES = 25  # a "-- " delimiter further than this from the end is not a signature delimiter
MAX_DISCLAIMER_LINES = 40  # longer paragraphs are not legal boilerplate

# --- sign-offs -------------------------------------------------------------------------------------
_SIGN_OFFS_EN = (
    "regards", "best regards", "kind regards", "warm regards", "warmest regards", "kindest regards",
    "best wishes", "warm wishes", "with regards", "with best regards", "with kind regards", "many regards",
    "rgds", "brgds", "br", "kr", "best", "all the best", "all best", "cheers", "thanks", "thank you",
    "thanks again", "thank you again", "many thanks", "thanks a lot", "thanks so much",
    "thank you very much", "thank you so much", "thanks in advance", "thanks in anticipation",
    "thank you in advance", "thx", "tx", "tia", "sincerely", "sincerely yours", "yours sincerely",
    "yours faithfully", "yours truly", "respectfully", "yours", "take care", "greetings", "cordially",
    "love", "thanks and regards", "thanks & regards", "thanks and best regards", "with thanks", "best rgds",
    "kind rgds", "regds", "have a nice day", "have a great day", "have a good day", "thanks much", "best,",
    "sent with thanks",
)  # fmt: skip
_SIGN_OFFS_DE = (
    "mit freundlichen grüßen", "mit freundlichen grüssen", "mit freundlichem gruß",
    "mit freundlichem gruss", "freundliche grüße", "freundliche grüsse", "freundlichen gruß",
    "freundlichen gruss", "mfg", "viele grüße", "viele grüsse", "vg", "beste grüße", "beste grüsse",
    "liebe grüße", "liebe grüsse", "lg", "herzliche grüße", "herzliche grüsse", "schöne grüße",
    "schöne grüsse", "grüße", "grüsse", "gruß", "gruss", "mit besten grüßen", "mit besten grüssen",
    "besten gruß", "besten gruss", "danke", "danke schön", "dankeschön", "vielen dank", "besten dank",
    "herzlichen dank", "danke im voraus", "vielen dank im voraus", "hochachtungsvoll", "bis bald",
    "tschüss", "ciao", "sonnige grüße", "herzliche grüße und danke", "viele grüße und danke",
    "mit freundlichen grüßen und vielen dank", "danke und viele grüße", "danke und grüße",
)  # fmt: skip
_SIGN_OFFS_FI = (
    "ystävällisin terveisin", "ystävällisesti", "terveisin", "parhain terveisin", "parhaat terveiset",
    "terveiset", "terv", "t", "yst. terv", "yst terv", "ystävällisin terv", "kiittäen", "kiitos",
    "kiitos paljon", "kiitoksia", "kiitos jo etukäteen", "kiitos etukäteen", "kiitoksin", "kiitos avusta",
    "hyvää päivänjatkoa", "mukavaa päivänjatkoa", "aurinkoisin terveisin", "hyvää viikonloppua",
    "kiitos ja terveisin", "kiittäen ja terveisin", "kiitos ja hyvää päivänjatkoa", "lämpimin terveisin",
    "kohteliaimmin",
)  # fmt: skip
# Swedish, Norwegian and Danish ("Vänliga hälsningar", "Med vennlig hilsen", "Venlig hilsen")
_SIGN_OFFS_NORDIC = (
    "med vänliga hälsningar", "med vänlig hälsning", "vänliga hälsningar", "vänlig hälsning",
    "bästa hälsningar", "varma hälsningar", "hälsningar", "hälsning", "mvh", "vh", "tack", "tack så mycket",
    "stort tack", "tusen tack", "tack på förhand", "tack och hälsningar", "ha det bra", "allt gott",
    "med vennlig hilsen", "vennlig hilsen", "med venlig hilsen", "venlig hilsen", "hilsen", "takk", "tak",
)  # fmt: skip
# Thanks with an intensifier, in every combination ("Thanks very much", "Thank you kindly", "Many thanks
# again"), and the German and Finnish ones ("Danke vielmals", "Vielen herzlichen Dank", "Kiitos kovasti")
_THANKS = tuple(
    head + tail
    for head in ("thanks", "thank you", "many thanks")
    for tail in (
        "", " very much", " so much", " ever so much", " a lot", " a million", " kindly", " again",
        " once again", " in advance", " very much in advance", " so much in advance", " a lot in advance",
        " loads", " heaps", " a bunch",
    )
)  # fmt: skip
_THANKS_DE_FI = (
    "danke sehr", "danke vielmals", "vielen lieben dank", "vielen herzlichen dank", "tausend dank",
    "herzlichen dank im voraus", "besten dank im voraus", "kiitos kovasti", "suuret kiitokset",
)  # fmt: skip
_SIGN_OFF_SET = frozenset(
    _SIGN_OFFS_EN + _SIGN_OFFS_DE + _SIGN_OFFS_FI + _SIGN_OFFS_NORDIC + _THANKS + _THANKS_DE_FI
)
_NAME_LEAD = frozenset({"from", "aus", "von", "vom", "nach", "in", "and", "und", "ja", "&"})
_TRAILING_PUNCT = " \t,.!:;-–—~"

# --- mobile and app signatures -------------------------------------------------------------------
_DEVICES = (
    r"iphone|ipad|ipod|android|samsung|galaxy|mobile|phone|smartphone|handy|blackberry|outlook|gmail|yahoo"
    r"|aol|proton\w*|tutanota|huawei|xiaomi|pixel|tablet|mail|app|superhuman|spark|airmail|bluemail|gmx"
    r"|web\.de|t-online|edison|fairemail|thunderbird|icloud|windows"
)
_MOBILE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^(?:sent|sendt|skickat|envoyé|enviado|inviato) (?:from|från|fra|de|depuis|da|desde)"
        r" (?:my |min |mitt |mon |mi |il mio )?[\w\-.' ]{1,45}(?:\s*\(\S+\))?\.?$",
        # "Sent with BlackBerry Work", "Sent via the Samsung Galaxy", but not "Sent via SEPA instant transfer"
        rf"^(?:sent|sendt|skickat|envoyé|enviado|inviato) (?:with|via|using|by|med|avec|con)"
        rf" (?:my |min |mitt |the )?(?:[\w\-.']+ ){{0,3}}?(?:{_DEVICES})\b[\w\-.' ]{{0,30}}"
        r"(?:\s*\(\S+\))?\.?$",
        r"^get outlook for (?:ios|android)\S*$",
        r"^holen sie sich outlook für (?:ios|android)\S*$",
        r"^skaffa outlook för (?:ios|android)\S*$",
        r"^(?:via|from) (?:mobile|my (?:mobile|phone|iphone|ipad|android|blackberry))\.?$",
        r"^(?:von|vom) (?:meinem|meiner|einem) [\w\-.' ]{1,45} gesendet\.?$",
        r"^gesendet (?:von|mit|über|vom|via|aus) (?:meinem |meiner |der |dem )?[\w\-.' ]{1,45}\.?$",
        r"^diese nachricht wurde von meinem [\w\-.' ]{1,45} (?:mit [\w\-.' ]{1,30} )?gesendet\.?$",
        r"^lähetetty (?:[\w\-.' ]{1,45})(?:sta|stä|lta|ltä|sovelluksesta|-sovelluksesta)\.?$",
        r"^lähetetty (?:iphonesta|ipadista|androidista|matkapuhelimesta|puhelimesta|mobiilista)\.?$",
        r"^hanki outlook (?:for )?(?:ios|android)\S*$",  # "Hanki Outlook Androidille", "… iOS:lle"
        r"^sent from (?:mail|outlook|yahoo mail|aol|gmail) (?:for|on) [\w .]{1,30}$",
    )
]

# --- disclaimers, impressums, footers, banners ------------------------------------------------------
# Specific legal / footer wording: one hit is enough (score 2). Each phrase is written so that a client's
# own sentence does not match it: "received … in error" needs "you"/"Sie"/"olet" and "if"/"wenn"/"jos"
# ("I have received an e-mail from you in error" is a report, not a disclaimer); "unauthorised use" and
# "intended for the recipient" need the e-mail or message they are about ("unauthorised use of my card",
# "the money was intended for the recipient's account" are a fraud report and a misdirected payment).
_DISCLAIMER_STRONG = re.compile(
    "|".join(
        (
            r"\b(?:e-?mail|message|communication|transmission|information|attachments?)\b[^.]{0,80}"
            r"\bintended (?:only |solely |exclusively )?for the "
            r"(?:sole |exclusive )?(?:use|addressee|recipient|person|individual|named|entity)",
            r"\bif you (?:are not the (?:intended|named) (?:recipient|addressee)"
            r"|(?:have )?(?:received|receive|got) (?:this|it)\b[^.]{0,60}"
            r"\b(?:in error|by mistake|by error|erroneously|mistakenly|wrongly))",
            r"\byou (?:have |may have )?received this (?:e-?mail|message|communication|transmission) "
            r"(?:in error|by mistake)",
            r"\b(?:e-?mail|message|transmission)(?: and (?:any|its|all) (?:files|attachments)[^.]{0,40})? "
            r"(?:may contain|contains?|is|are) (?:strictly )?(?:confidential|privileged|proprietary)",
            r"\bconfidentiality (?:notice|statement|note)\b|\b(?:legal|e-?mail) disclaimer\b"
            r"|\b(?:legal|e-?mail) notice\s*:",
            r"\bunauthori[sz]ed (?:use|review|disclosure|copying|distribution|dissemination)\b[^.]{0,80}"
            r"(?:\b(?:this|the|these|its) (?:e-?mail|message|communication|transmission|information|contents?"
            r"|attachments?)\b|\bprohibited\b)",
            r"(?:e-?mail|message) (?:\(?and any attachments\)? )?(?:is|are) the property of",
            r"authori[sz]ed and regulated by",
            r"consider the environment before printing",
            # a mail gateway's virus-scan footer, a sentence of its own ("This email has been scanned by the
            # Symantec Email Security.cloud service.", "Diese E-Mail wurde von Avast Antivirus-Software auf
            # Viren geprüft.", "Tämä sähköposti on tarkistettu virusten varalta …"), not a client's "I think
            # this email has been checked by my antivirus"
            r"(?:^[\W_]*|[.!?:]\s+)(?:this (?:e-?mail|message)\b(?![^.]{0,80}\b(?:my|your|our|me|us)\b)"
            r"[^.]{0,40}\bhas been (?:scanned|checked)\b[^.]{0,80}"
            r"\b(?:virus(?:es)?|malware|spam|anti-?virus|security|service)\b"
            r"|diese (?:e-?mail|nachricht)\b(?![^.]{0,80}\b(?:mein|meine|meinem|ihr|ihre)\b)[^.]{0,60}"
            r"\bauf (?:viren|schadsoftware|malware)\b[^.]{0,20}\b(?:geprüft|überprüft|gescannt)"
            r"|tämä (?:sähköposti(?:viesti)?|viesti) on (?:tarkistettu|skannattu)\b[^.]{0,40}\bvirus)",
            r"information (?:on|about) (?:how we process|the processing of) your personal data",
            r"/listinfo/",
            r"you (?:are )?receiv(?:ed|ing) this (?:message |e-?mail |mailer )?because",
            r"view this message in context",
            r"mailing list archive",
            r"permission marketing",
            r"subscription center",
            r"you are (?:currently )?subscribed to",
            # German
            r"(?:e-?mail|nachricht)[^.]{0,40} (?:enthält|enthalten|kann|könnte)[^.]{0,40}vertraulich",
            r"\b(?:wenn|falls|sollten|sofern) sie[^.]{0,60}\b(?:irrtümlich(?:erweise)?|versehentlich"
            r"|fälschlicherweise|irrtümlicherweise)\b[^.]{0,30}\berhalten",
            r"\bsie\b[^.]{0,40}\bnicht der (?:richtige|beabsichtigte|vorgesehene|bezeichnete) "
            r"(?:adressat|empfänger)",
            r"\b(?:unbefugte|unerlaubte) (?:weitergabe|nutzung|kopie|verwendung|vervielfältigung)\b[^.]{0,80}"
            r"(?:\b(?:dieser|der) (?:e-?mail|mail|nachricht|informationen)\b"
            r"|\b(?:nicht gestattet|untersagt|verboten|unzulässig)\b)",
            r"\b(?:e-?mail|nachricht|inhalt|informationen)\b[^.]{0,60}\bausschließlich für\b[^.]{0,40}"
            r"(?:adressat|empfänger)[^.]{0,20}\bbestimmt",
            r"denken sie an die umwelt",
            r"informationen zur verarbeitung ihrer personenbezogenen daten",
            # Finnish
            r"(?:viesti|sähköposti)[^.]{0,60}tarkoitettu (?:ainoastaan|vain|yksinomaan)",
            r"\b(?:jos|mikäli) (?:olet|olette)\b[^.]{0,40}\b(?:saanut|vastaanottanut)\b[^.]{0,40}"
            r"\b(?:erehdyksessä|vahingossa|virheellisesti)",
            r"\b(?:jos|mikäli) (?:tämä )?(?:sähköposti)?viesti on tullut [^.]{0,30}"
            r"\b(?:erehdyksessä|vahingossa|virheellisesti)",
            r"\b(?:jos|mikäli) (?:et|ette) ole (?:tämän )?(?:viestin )?(?:oikea|tarkoitettu) vastaanottaja",
            r"ajattele ympäristöä",
            r"harkitse ennen kuin tulostat",
            # Swedish ("Detta meddelande kan innehålla konfidentiell information …", "Om du har fått
            # meddelandet av misstag …": the message itself, not "om ni har fått min betalning av misstag")
            r"\b(?:e-?post(?:meddelande)?|e-?brev|meddelande)\w{0,5}\b[^.]{0,60}"
            r"\b(?:(?:kan innehålla|innehåller)\b[^.]{0,40}\b(?:konfidentiell|sekretessbelagd|förtrolig)"
            r"|(?:endast|enbart|uteslutande) avsett för)",
            r"\bom (?:du|ni) (?:har )?(?:fått|mottagit|erhållit) (?:detta |det här )?"
            r"(?:e-?post(?:meddelande)?|e-?brev|meddelande|mejl|mail)\w{0,3}\b[^.]{0,40}"
            r"\b(?:av misstag|felaktigt|av fel|oavsiktligt)",
        )
    ),
    re.IGNORECASE,
)
# Newsletter-footer wording that is also a client's sentence ("I would prefer not to receive paper
# statements", "I don't think this email was sent by you"): legal wording only next to an unsubscribe link.
_LIST_FOOTER = re.compile(
    r"prefer not to receive|this (?:e-?mail|message|mailer) was sent (?:by|to)\b", re.IGNORECASE
)
# A footer sentence that names the sender or the address ("This message was sent by Hyperion Solutions …",
# "this e-mail was sent to the following address: …"), not a client's doubt ("I don't think this email was
# sent by you").
_SENT_BY_FOOTER = re.compile(
    r"(?:^[\W_]*|[.!?:]\s+|(?<![-_=*])[-_=*]{3,}\s*)this (?:e-?mail|message|mailer) was sent (?:by|to)\b"
    r"(?! (?:you|your|me|my|us|our|someone|somebody|mistake|error)\b)"
    r"|\bthis (?:e-?mail|message|mailer) was sent to "
    r"(?:the following (?:e-?mail )?address|(?:address )?\S+@)",
    re.IGNORECASE,
)
_LIST_CONTEXT = re.compile(
    r"\bunsubscri|\bopt[- ]?out\b|\bmanage (?:your )?(?:preferences|subscriptions?)\b|\bemail preferences\b"
    r"|\bupdate your preferences\b|\bmailing list\b|\babmelden\b|\babbestellen\b|\bperuuta tilaus",
    re.IGNORECASE,
)
# External-sender banners, put at the top by the client's mail server; the only legal text a first
# paragraph is dropped for ("CAUTION: This email originated outside of …", "[EXTERN] Diese E-Mail wurde von
# einem externen Absender gesendet", "[ULKOINEN] Tämä sähköposti on lähetetty organisaation ulkopuolelta").
_BANNER = re.compile(
    "|".join(
        (
            r"^\W{0,3}\[(?:external|extern|externe? (?:e-?mail|absender)|ulkoinen)\]",
            r"\bthis (?:e-?mail|message) (?:has )?(?:originated|came|comes|was sent|was received|is) "
            r"(?:from )?(?:outside|an? external)\b",
            r"\bdiese (?:e-?mail|nachricht) (?:stammt|kommt|wurde|ist)\b[^.]{0,40}"
            r"\b(?:von (?:einem |einer )?externen|von außerhalb"
            r"|außerhalb (?:ihrer|der|unserer) organisation)",
            r"\btämä (?:sähköposti)?viesti\b[^.]{0,40}"
            r"\b(?:organisaation ulkopuolelta|ulkopuoliselta lähettäjältä|ulkoiselta lähettäjältä)",
        )
    ),
    re.IGNORECASE,
)
# Company-register wording of impressums: counted once per distinct kind; two kinds make a footer.
_IMPRESSUM = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"sitz der gesellschaft|\bsitz\s*:|registered office|\bkotipaikka\b",
        r"registergericht|amtsgericht|handelsregister|register court"
        r"|registered in (?:england|scotland|ireland)",
        r"\bhr[ab]\s?\d|company (?:number|registration)|registered number|\by-tunnus\b|\bfn\s?\d{3,}"
        r"|\bfo-?(?:nummer|nr)\b|\borganisationsnummer\b",
        r"ust\.?[- ]?id|steuer-?nummer|\bvat (?:id|no|number|reg)",
        r"geschäftsführ(?:er|erin|ung)\s*:|managing directors?\s*:|\bvorstand\s*:|toimitusjohtaja\s*:"
        r"|persönlich haftende gesellschafterin",
        r"vorsitzender? des aufsichtsrats|aufsichtsratsvorsitzender?|chairman of the (?:supervisory )?board",
        r"\bimpressum\b|pflichtangaben",
    )
]
# Words that also occur in a client's own sentences: they add up, but one alone is not enough.
_DISCLAIMER_WEAK = re.compile(
    r"\bconfidential|\bprivileged\b|\bvertraulich|\bluottamuksellis|\bdatenschutz|\btietosuoja|"
    r"\bdelete (?:it|this|the)|\blöschen sie|\bpoista(?:kaa)? viesti|\bnotify the sender|"
    r"\bbenachrichtigen sie|\bilmoita(?:kaa)? lähettäjälle|\bstrictly prohibited|\bdisclaimer\b|"
    r"\bregulated by\b|\bbafin\b|\bfinanssivalvon|\baufsichtsrat|\bmailing list\b|\bunsubscribe\b|"
    r"\bprivacy policy|\bdatenschutzerklärung|\btietosuojaseloste|\bpowered by\b|\bopt[- ]?out\b|"
    r"\bexternal (?:e-?mail|sender)\b|\bexterne (?:e-?mail|nachricht|absender)|\[extern(?:al)?\]|"
    r"\bulkoinen (?:lähettäjä|viesti)|\[ulkoinen\]|\berehdyksessä|\birrtümlich|\bkonfidentiell|"
    r"\bmeddela avsändaren|\bradera (?:meddelandet|e-?posten)",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"^(?:\S+\s+){5,}\S*[.!?]$")  # six or more words ending like a sentence
_SEPARATOR_LINE = re.compile(r"^\s*[-_=*+#~|.]{4,}\s*$")
_SPONSOR_LINE = re.compile(r"^\s*[-_=*~]{5,}.{0,30}\bsponsor\b", re.IGNORECASE)
# The join block Outlook puts under a Teams meeting invitation: its heading line ("Microsoft Teams meeting",
# "Microsoft Teams-Besprechung", "Microsoft Teams -kokous", "Microsoft Teams Need help?") and, in the same
# paragraph, a join link or the meeting ID ("Click here to join the meeting", "Besprechungs-ID: …").
_MEETING_HEADING = re.compile(
    r"^microsoft teams(?: meeting|-besprechung|-meeting| -kokous|-möte)?"
    r"(?: (?:need help|benötigen sie hilfe|brauchen sie hilfe|tarvitsetko apua|behöver du hjälp)\?)?"
    r"(?:\s*<[^<>\s]*>)?$",
    re.IGNORECASE,
)
_MEETING_JOIN = re.compile(
    r"^(?:join on your computer|click here to join the meeting|join the meeting now|meeting id:"
    r"|(?:nehmen sie )?(?:von|über) ihre[mn]? computer"
    r"|klicken sie hier,? um an der besprechung teilzunehmen"
    r"|jetzt an der besprechung teilnehmen|besprechungs-id:"
    r"|liity tietokoneella|liity kokoukseen|kokouksen tunnus:"
    r"|anslut (?:på|via|från) din dator|klicka här för att ansluta till mötet|anslut till mötet nu"
    r"|mötes-id:)",
    re.IGNORECASE,
)
_SIG_DELIMITER = re.compile(r"^\s*(?:--|—|––|-- --)\s*$")
_QUESTION = re.compile(r"[^\W\d_][?](?=[\s\"'“”»)]|$)")  # "… or does she need me to co-sign? She …"

# --- contact details -------------------------------------------------------------------------------
_COMPANY = re.compile(
    r"\b(?:gmbh|ag|kg|ohg|e\.\s?v\.|se|oy|oyj|ab|ltd|limited|inc|corp|corporation|llc|llp|plc|co\.|"
    r"bank|sparkasse|volksbank|raiffeisenbank|pankki|osuuspankki|holding|group|gruppe|konzern|"
    r"enron|university|universität|yliopisto)\b\.?"
    # Finnish company forms: "Rakennuspalvelu Saarinen Tmi"; "Ky" and "Ay" after two words at least
    # ("Saarisen Sähkö Ky"), since "Hüseyin Ay" and "Nguyen Ky" are names; not "ay-jäsenmaksu", a union fee
    r"|(?:\btmi|\S\s+\S+\s+(?:ky|ay))\b(?!-)",
    re.IGNORECASE,
)
_TITLE = re.compile(
    r"\b(?:manager|director|president|vice president|vp|ceo|cfo|cto|coo|head of|analyst|assistant|"
    r"associate|consultant|engineer|specialist|officer|partner|advisor|adviser|counsel|paralegal|"
    r"coordinator|representative|administrator|admin|secretary|supervisor|architect|developer|"
    r"berater(?:in)?|geschäftsführer(?:in)?|leiter(?:in)?|abteilungsleiter(?:in)?|sachbearbeiter(?:in)?|"
    r"kundenbetreuer(?:in)?|kundenberater(?:in)?|prokurist(?:in)?|referent(?:in)?|vertrieb|"
    r"asiakaspalvelu|ph\.?\s?d\.?|dr\.|prof\.|dipl\.|m\.?sc\.?|mba"
    # compounds: "Talouspäällikkö", "Toimitusjohtaja", "Asiakasneuvoja"; "Filialleiter", "Teamleiterin",
    # "Finanzbuchhalter" (four letters at least before "leiter" …, so that the name Schleiter is no title);
    # Swedish "Ekonomichef", "Kundansvarig"
    r"|\w*(?:johtaja|päällikkö|asiantuntija|neuvoja|koordinaattori|suunnittelija|sihteeri|kirjanpitäjä)"
    r"|\w{4,}(?:leiter|berater|betreuer|referent)(?:in)?|\w*buchhalter(?:in)?|\w{4,}(?:chef|ansvarig)"
    # "Kaufmännische Leitung", "Leitung Buchhaltung", "Geschäftsleitung"; not "Weiterleitung", "Wasserleitung"
    r"|(?:geschäfts|abteilungs|bereichs|filial|projekt|team|gruppen|niederlassungs|betriebs|büro|kanzlei"
    r"|praxis|vertriebs|verkaufs|einkaufs|personal|finanz|bau|objekt)?leitung"
    # Swedish and Norwegian "(Verkställande) direktör", "Ekonomidirektör", "Daglig direktør"
    r"|\w*direkt[öø]r)\b",
    re.IGNORECASE,
)
_ADDRESS = re.compile(
    r"\b(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|"
    r"katu|tie|kuja|polku|street|st\.|avenue|ave\.|road|rd\.|blvd|suite|drive|lane|floor|etage|"
    r"p\.?\s?o\.?\s?box|postfach|postilokero|pl)\s*\d|\b\d+\s+\w+\s+(?:street|st|avenue|ave|road|rd|drive|lane)\b",
    re.IGNORECASE,
)
# Postcode + capitalised city: "80331 München", "D-80331 München", "00100 Helsinki", "1010 Wien",
# "CH-8001 Zürich", "1400 Smith Street". Not after a date or amount ("12.03.2024 Bank"), not a number before a
# currency or unit, and not followed by a lowercase word unless it is part of the city ("Frankfurt am Main"):
# "2000 Euro überweisen" and "2024 habe ich" are sentences.
_POSTCODE_CITY = re.compile(
    r"(?<![\w./])(?:[A-Z]{1,2}-)?\d{4,5}\s+"
    r"(?!(?:Euro|EUR|CHF|USD|GBP|Dollar|Franken|Stück|Aktien|Anteile|Tage|Jahre|Monate|Wochen|Mio|Mrd)\b)"
    r"[A-ZÄÖÜÅ][\w\-]*+(?!\.?\s+(?!(?:am|an|im|in|ob|bei|a\.|i\.|d\.|der)\s)[a-zäöüß])"
)
# A UK postcode as written, in capitals with its space ("BS2 0XJ", "EC2N 4AJ", "M1 1AE")
_UK_POSTCODE = re.compile(r"(?<![\w-])[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}(?![\w-])")
# Street names written as one word, as German and Finnish do ("Musterstraße 5", "Hauptstr. 12",
# "Am Marktplatz 3", "Schillerweg 2a", "Mannerheimintie 12 A 5", "Pohjoisranta 4"), and the Finnish ones
# without a suffix ("Esplanadi 1"). The house number must not be followed by a lowercase word: in
# "ich bin in die Musterstraße 5 umgezogen" the address is part of a sentence.
_STREET_SUFFIXES = (
    r"straße|strasse|str\.?|weg|platz|allee|gasse|ring|damm|promenade|ufer|chaussee|steig|stieg|pfad|markt|"
    r"graben|kai|zeile|gürtel|katu|tie|kuja|polku|ranta|tori|aukio|väylä|kaari|rinne|mäki|puisto|tanhua|raitti"
)
_STREET_COMPOUND = re.compile(
    rf"(?<![\w-])(?:[A-ZÄÖÜÅ][\w\-]{{1,40}}?(?i:{_STREET_SUFFIXES})|Esplanadi|Bulevardi)"
    r"\s?\d{1,3}(?:\s?[a-zA-Z])?\b(?:\s?[-/]\s?\d{1,3}[a-zA-Z]?\b)?(?!\s*[a-zäöüß])"
)
# A whole line "street words + house number" ("Unter den Linden 5", "Zeil 12"); an address only when the next
# line is a postcode and city.
_STREET_LINE = re.compile(
    r"^(?:[A-ZÄÖÜÅ][\w.\-]*)(?:\s+[\w.\-]+){0,3}\s+\d{1,3}(?:\s?[a-zA-Z])?(?:\s?[-/]\s?\d{1,3}[a-zA-Z]?)?"
    r"(?:\s+[A-Z]\s?\d{0,3})?,?$"
)
_POSTCODE_LINE = re.compile(r"^(?:[A-Z]{1,2}-)?\d{4,5}\s+[A-ZÄÖÜÅ][\w\-]*(?:\s+\S+){0,3}$")
# A client telling the bank about a new address: an address block in such a message is content.
_ADDRESS_CHANGE = re.compile(
    r"\b(?:new|changed?|updated?|change of|update (?:my|our|the)|change (?:my|our|the)) "
    r"(?:home |postal |mailing |residential |correspondence )?address\b|\baddress change\b"
    r"|\b(?:i|we)(?: have|'ve)?(?: just| recently)? moved (?:to|into|house|home|out)\b"
    r"|\bneue[nrs]? (?:wohn|post|haus|melde)?(?:adresse|anschrift)|\b(?:adress|anschrift)s?änderung"
    r"|\bänderung (?:meiner|unserer|der) (?:adresse|anschrift)|\bumgezogen\b|\bumzug\b"
    r"|\b(?:ändern|aktualisieren) sie (?:bitte )?(?:meine|unsere|die) (?:adresse|anschrift)"
    r"|\b(?:meine|unsere) (?:adresse|anschrift) (?:lautet|ist)|\bwohne (?:jetzt|nun|seit)"
    r"|\b(?:uusi|uuteen|uudeksi|muuttunut|muuttuneen|vaihtunut) osoit|\bosoitteen ?muutos"
    r"|\bosoitteeni (?:on|muuttuu|muuttui|muuttunut)|\bmuut(?:in|imme|tanut|taneet)\b",
    re.IGNORECASE,
)
_ACCOUNT = re.compile(
    r"\b(?:iban|bic|swift(?:[- ]code)?|konto(?:nummer|nr)?|kontoinhaber(?:in)?|tilinumero|tilinro"
    r"|account (?:number|no|holder|name)|sort code|saajan tili)\b",
    re.IGNORECASE,
)
# "PS:", "P.S.", "PPS:" — a postscript is the client's text, whatever address or number it mentions
_POSTSCRIPT = re.compile(r"^\W*(?:p\.\s?(?:p\.\s?)?s\.|pp?s\s*[:.\-–])", re.IGNORECASE)
_SOCIAL = re.compile(r"\b(?:linkedin|xing|twitter|skype|facebook|instagram)\b", re.IGNORECASE)
# German signing on someone's behalf: "i. A." (im Auftrag), "i. V." (in Vertretung), "ppa." (Prokura)
_PROXY = re.compile(r"^(?:i\.\s?a\.|i\.\s?v\.|ppa\.)\s*(?=\S)", re.IGNORECASE)
_NAME_TOKEN = re.compile(
    r"^[A-ZÄÖÜÅ][\w'’.\-]*$|^(?:van|von|de|der|den|la|le|du|da|di|af|zu)$|^[A-Z]\.?$|^&$"
)


def _norm(line: str) -> str:
    return " ".join(line.strip().split())


_MOBILE_FIRST_WORDS = frozenset(
    {
        "diese", "enviado", "envoyé", "from", "gesendet", "get", "hanki", "holen", "inviato", "lähetetty",
        "sendt", "sent", "skaffa", "skickat", "via", "vom", "von",
    }
)  # fmt: skip


def is_mobile_signature(line: str) -> bool:
    text = _norm(line)
    if not text or len(text) > 80 or text.split(" ", 1)[0].lower() not in _MOBILE_FIRST_WORDS:
        return False
    return any(p.match(text) for p in _MOBILE)


def _name_like(line: str, max_words: int = 5) -> bool:
    """A short line that looks like a person's name or initials ("Phillip", "-Abhishek Kona", "MM"), also
    signed on someone's behalf ("i. A. Nadine Kröger", "i.V. Max Peters", "ppa. Jan Ode")."""
    text = _PROXY.sub("", _norm(line).strip(_TRAILING_PUNCT + "*_\"'"), count=1)
    if not text or len(text) > 50 or any(ch.isdigit() for ch in text) or "@" in text:
        return False
    words = text.replace(",", " ").split()
    if len(words) > max_words:
        return False
    if len(words) == 1 and text.isalpha() and (text[0].isupper() or len(text) <= 3):
        return True
    return all(_NAME_TOKEN.match(w) for w in words)


_SIGN_OFF_PREFIX = re.compile(
    "^(" + "|".join(re.escape(p) for p in sorted(_SIGN_OFF_SET, key=len, reverse=True)) + r")(?=$|[ ,.!:;])"
)


def sign_off_match(line: str) -> bool:
    """True when `line` is a sign-off, optionally followed by a name ("Cheers, Fabian", "t. Matti")."""
    text = _norm(line)
    if not text or len(text) > 80 or text.endswith("?"):
        return False
    text = text.split(" / ")[0].lstrip("-–—* ")  # "Mit freundlichen Grüßen / Best regards"
    low = text.lower().rstrip(_TRAILING_PUNCT)
    if low in _SIGN_OFF_SET:
        return True
    match = _SIGN_OFF_PREFIX.match(low)
    if match is None:
        return False
    phrase = match.group(1)
    rest = text[len(phrase) :].strip(_TRAILING_PUNCT)
    if not rest:
        return True
    words = rest.split()
    if words[0].lower() in _NAME_LEAD:
        return len(words) <= 5
    if phrase == "t" and text[:2].lower() not in ("t.", "t:", "t,"):
        return False
    return _name_like(rest, max_words=4)


def closing_name(lines: Sequence[str]) -> str | None:
    """The person's name in the closing that ends `lines` ("Thanks,\nMargaret Ellis", "Cheers, Fabian"), or
    None when they do not end with a sign-off and a name (a company or title is no name here)."""
    tail = [_norm(line) for line in lines if line.strip()][-2:]
    name = ""
    if len(tail) == 2 and sign_off_match(tail[0]) and not sign_off_match(tail[1]):
        name = tail[1] if _name_like(tail[1], max_words=4) else ""
    elif tail and sign_off_match(tail[-1]):
        text = tail[-1].split(" / ")[0].lstrip("-–—* ")
        match = _SIGN_OFF_PREFIX.match(text.lower())
        rest = text[len(match.group(1)) :].strip(_TRAILING_PUNCT) if match else ""
        name = rest if rest and rest.split()[0].lower() not in _NAME_LEAD else ""
    name = name.strip(_TRAILING_PUNCT)
    return name if name and not _org_or_title(name) else None


def _contact_signals(line: str) -> int:
    """Strong contact evidence in one line: e-mail, web address, phone, labelled phone, address, social."""
    text = line.strip()
    score = 0
    if EMAIL.search(text):
        score += 1
    if URL.search(text):
        score += 1
    if phone_like(text):
        score += 1
    if PHONE_LABEL.match(text) and any(ch.isdigit() for ch in text):
        score += 1
    if address_line(text):
        score += 1
    if _SOCIAL.search(text):
        score += 1
    return score


def _block_signals(paragraph: Sequence[str]) -> list[int]:
    """`_contact_signals` per line, where a street line counts as an address when a postcode line follows it
    ("Unter den Linden 5" / "10117 Berlin", "Esplanadi 1" / "00100 Helsinki")."""
    scores = [_contact_signals(line) for line in paragraph]
    for i in range(len(paragraph) - 1):
        street, below = _norm(paragraph[i]), _norm(paragraph[i + 1])
        if not scores[i] and _STREET_LINE.match(street) and _POSTCODE_LINE.match(below):
            scores[i] = 1
    return scores


def account_line(line: str) -> bool:
    """Account details a client gives ("DE89 3704 0044 …", "BIC COBADEFFXXX", "Kontoinhaber Jan Peters",
    "Tilinumero: …"): content when they end a message that has no closing, never a contact signature."""
    return bool(IBAN.search(line) or _ACCOUNT.search(line))


def address_line(line: str) -> bool:
    """A street, PO box or postcode + city ("Musterstraße 5", "Postfach 12 34 56", "00100 Helsinki", "Bristol
    BS2 0XJ")."""
    text = line.strip()
    address = _ADDRESS.search(text) or _POSTCODE_CITY.search(text) or _UK_POSTCODE.search(text)
    return bool(address or _STREET_COMPOUND.search(text))


def introduces_content(line: str) -> bool:
    """A line announcing what follows ("Meine neue Anschrift lautet:", "Uusi osoitteeni:", "Please send the
    card to:"): lines after it are the client's content, even when they look like an address block."""
    text = _norm(line)
    if not text.endswith(":") or sign_off_match(text):
        return False
    words = [word for word in text.split() if any(ch.isalpha() for ch in word)]
    return len(words) >= 4 or bool(_ADDRESS_CHANGE.search(text))


def _closing_name_line(line: str) -> bool:
    """A line that may be the name under a sign-off: name-like, with no contact detail, company or title."""
    return _name_like(line) and not _contact_signals(line) and not _org_or_title(line)


def _lone_title(line: str) -> bool:
    """A short title or company line ("Geschäftsführer", "Talouspäällikkö", "Head of Treasury")."""
    text = _norm(line)
    short = len(text.split()) <= 6 and not text.endswith((".", "!", "?", ":"))
    return short and _org_or_title(text)


def _org_or_title(line: str) -> bool:
    text = line.strip()
    return len(text) <= 70 and bool(_COMPANY.search(text) or _TITLE.search(text))


def _prose(line: str) -> bool:
    """A sentence-like line: long, or ending like a sentence with several words. Fields split by " | " are
    counted one by one ("Brooks Logistics Ltd | Unit 4, Riverside Park, Bristol BS2 0XJ" is no sentence)."""
    text = _norm(line)
    words = text.split()
    longest = max(len(field.split()) for field in text.split(" | ")) if " | " in text else len(words)
    if longest >= 10 or text.endswith("?"):
        return True
    return len(words) >= 6 and text.endswith((".", "!", ":")) and not _contact_signals(text)


def _legal_phrases(text: str) -> int:
    """Number of specific legal / footer phrases in `text` (banner wording included)."""
    hits = len(_DISCLAIMER_STRONG.findall(text)) + len(_BANNER.findall(text))
    hits += len(_SENT_BY_FOOTER.findall(text))
    if _LIST_CONTEXT.search(text):
        hits += len(_LIST_FOOTER.findall(text))
    return hits


def is_banner(paragraph: Sequence[str]) -> bool:
    """An external-sender banner ("CAUTION: This email originated outside of …"), at most three lines."""
    return len(paragraph) <= 3 and bool(_BANNER.search(" ".join(_norm(line) for line in paragraph)))


def meeting_block(paragraph: Sequence[str]) -> int | None:
    """Where a Teams meeting's generated join block begins in `paragraph`: its heading, or the rule line right
    above it (the block goes on to the paragraph's end, as Outlook puts it at the end of an invitation);
    None when the paragraph holds no heading with a join link or meeting ID under it."""
    texts = [_norm(line) for line in paragraph]
    heading = next((n for n, text in enumerate(texts) if _MEETING_HEADING.match(text)), None)
    if heading is None or not any(_MEETING_JOIN.match(text) for text in texts[heading + 1 :]):
        return None
    return heading - 1 if heading and _SEPARATOR_LINE.match(texts[heading - 1]) else heading


def is_disclaimer(paragraph: Sequence[str]) -> bool:
    """Legal boilerplate: one specific legal phrase, or several weaker signals in lines that are not sentences
    (an impressum footer), but not a client's sentences that merely mention a register or confidentiality."""
    text = " ".join(_norm(line) for line in paragraph)
    if _legal_phrases(text):
        return True
    sentences = sum(1 for line in paragraph if _SENTENCE.search(_norm(line)) and "|" not in line)
    return disclaimer_score(paragraph) >= 2 and sentences == 0


def disclaimer_score(paragraph: Sequence[str]) -> int:
    """2 per legal phrase, 1 per kind of company-register entry, 1 per weak word; 2 or more is boilerplate."""
    text = " ".join(_norm(line) for line in paragraph)
    return 2 * _legal_phrases(text) + _impressum_kinds(text) + len(_DISCLAIMER_WEAK.findall(text))


def _impressum_kinds(text: str) -> int:
    """Kinds of company-register wording in `text` (seat, register court, register number, VAT ID …)."""
    return sum(1 for pattern in _IMPRESSUM if pattern.search(text))


def _disclaimer_start(texts: Sequence[str]) -> int:
    """Where the legal text of a disclaimer paragraph begins: after the client's own sentences written right
    above it with no blank line ("I would second that too. …" / "Notice: This email … is confidential")."""
    start = 0
    while start < len(texts) - 1:
        line = _norm(texts[start])
        sentence = _prose(line) and line.endswith((".", "!", "?"))
        if disclaimer_score([line]) or not sentence or not is_disclaimer(texts[start + 1 :]):
            break
        start += 1
    return start


def _paragraphs(indices: Sequence[int], lines: Sequence[str]) -> list[list[int]]:
    """Split own-line indices into paragraphs: runs of non-empty, adjacent lines."""
    result: list[list[int]] = []
    current: list[int] = []
    prev = None
    for i in indices:
        if not lines[i].strip() or (prev is not None and i != prev + 1):
            if current:
                result.append(current)
            current = []
        if lines[i].strip():
            current.append(i)
        prev = i
    if current:
        result.append(current)
    return result


def _contact_block(paragraph: Sequence[str], after_closing: bool) -> bool:
    """Does this paragraph look like a contact block (name, title, company, address, phone …)?"""
    if not paragraph or len(paragraph) > 15:
        return False
    if any(len(_norm(line)) > 90 for line in paragraph):
        return False
    prose = sum(_prose(line) for line in paragraph)
    if prose > (1 if len(paragraph) >= 4 else 0):
        return False
    # "Neue Anschrift:" over an address, a line about moving, a P.S.: the client's content, not a signature
    if any(introduces_content(line) for line in paragraph[:-1]) or any(
        _ADDRESS_CHANGE.search(line) or _POSTSCRIPT.match(line) for line in paragraph
    ):
        return False
    signals = _block_signals(paragraph)
    strong = sum(1 for score in signals if score)
    org = sum(1 for line in paragraph if _org_or_title(line))
    names = sum(1 for line in paragraph if _name_like(line))
    separators = sum(1 for line in paragraph if _SEPARATOR_LINE.match(line))
    if len(paragraph) == 1:
        return strong >= 1 and (after_closing or signals[0] >= 2)
    first = paragraph[0]
    if not (_name_like(first) or _org_or_title(first) or signals[0] or _SEPARATOR_LINE.match(first)):
        return False
    if strong == 0 and org == 0:
        return False
    if strong == 0 and not after_closing:
        # a name over a title or company ("Jason Bass / TSE / Compaq Computer Corporation")
        return names >= 1 and _name_like(paragraph[0]) and org >= 1 and len(paragraph) <= 6
    return (strong + org + names + separators) * 2 >= len(paragraph)


def label_signatures(lines: Sequence[str], labels: list[str], html: bool = False) -> None:
    """Refine the labels of own lines ("body") into closing / signature / disclaimer, in place. `html`: the
    lines are an HTML body's, where a "-- " line marks a signature container (see step 2)."""
    own = [i for i, label in enumerate(labels) if label == "body"]
    if not own:
        return
    non_empty = [i for i in own if lines[i].strip()]

    # 1. Teams meeting join blocks, alone, wherever they stand; external-sender banners at the top;
    # disclaimer paragraphs and what follows them, but for prose. A paragraph with a sign-off after it, or
    # announced by the line above it ("unsere Firmendaten:"), is the client's text whatever legal words it
    # uses ("unbefugte Nutzung meiner Karte", "Sitz: München").
    paragraphs = _paragraphs(own, lines)
    _label_meeting_blocks(lines, labels, paragraphs)
    sign_offs = [i for i in non_empty if _sign_off_line(lines[i])]
    cut_from: int | None = None
    for p_index, paragraph in enumerate(paragraphs):
        if len(paragraph) > MAX_DISCLAIMER_LINES:
            continue
        texts = [lines[i] for i in paragraph]
        if p_index == 0 and len(paragraphs) > 1:
            if is_banner(texts):
                for i in paragraph:
                    labels[i] = "disclaimer"
            continue  # other legal words at the very top are more likely the client's own subject
        sponsor = bool(_SPONSOR_LINE.match(texts[0]))
        if not (sponsor or is_disclaimer(texts)):
            continue
        if len(paragraph) > 12 and not sponsor and disclaimer_score(texts) < 4:
            continue
        if not sponsor and (
            any(k > paragraph[-1] for k in sign_offs) or _introduced(lines, labels, paragraph[0])
        ):
            continue
        cut_from = paragraph[_disclaimer_start(texts)]
        if p_index > 0 and cut_from == paragraph[0]:
            prev = paragraphs[p_index - 1]
            if len(prev) == 1 and _SEPARATOR_LINE.match(lines[prev[0]]):
                cut_from = prev[0]
        break
    if cut_from is not None:
        # from the first disclaimer on: boilerplate and short lines go, a paragraph of prose stays
        for paragraph in _paragraphs([i for i in own if i >= cut_from], lines):
            texts = [lines[i] for i in paragraph]
            prose = sum(map(_prose, texts)) >= 1 and sum(len(_norm(t).split()) for t in texts) >= 12
            if paragraph[0] > cut_from and not is_disclaimer(texts) and prose:
                continue
            for i in paragraph:
                labels[i] = "disclaimer"
        for i in own:  # blank lines inside the removed region
            if i >= cut_from and not lines[i].strip():
                labels[i] = "disclaimer"

    # 2. "-- " delimiter near the end: the rest is signature. Not a "--" the client uses as a separator:
    # one of several, or one with the client's text after it ("zu Ihren zwei Fragen: / -- / …"). In HTML the
    # delimiter stands for the mail client's signature container, which holds the name as well: a name
    # heading it right under a bare sign-off is the closing's, as in the same plain-text layout ("Kind
    # regards, / -- / Rachel Dunmore / Operations Manager …"); a typed "-- " puts the name in the signature.
    remaining = [i for i in non_empty if labels[i] == "body"]
    delimiters = [pos for pos, i in enumerate(remaining) if _SIG_DELIMITER.match(lines[i])]
    separate = [pos for n, pos in enumerate(delimiters) if n == 0 or pos > delimiters[n - 1] + 1]
    for pos in separate if len(separate) == 1 else ():
        i = remaining[pos]
        near_end = 1 <= len(remaining) - pos - 1 <= MAX_SIGNATURE_LINES
        if near_end and not _client_text_after(lines, remaining[pos:]):
            for k in own:
                if k >= i and labels[k] == "body":
                    labels[k] = "signature"
            if html and pos > 0 and _name_under_sign_off(lines, remaining[pos - 1], i, remaining[pos + 1]):
                labels[remaining[pos + 1]] = "closing"
            break

    # 3. mobile signatures anywhere, with a bare name right above them ("Stavros / via mobile").
    for pos, i in enumerate(own):
        if labels[i] == "body" and is_mobile_signature(lines[i]):
            labels[i] = "signature"
            if pos > 0 and own[pos - 1] == i - 1 and labels[i - 1] == "body" and _name_like(lines[i - 1]):
                above = i - 2
                if above < 0 or not lines[above].strip() or labels[above] != "body":
                    labels[i - 1] = "signature"

    # 4. closing and contact blocks at the end of what is left.
    _label_tail(lines, labels, own)


def _label_meeting_blocks(lines: Sequence[str], labels: list[str], paragraphs: list[list[int]]) -> None:
    """A Teams meeting's join block, wherever it stands, is generated text: the block and a rule line alone
    above or below it are labelled disclaimer; the client's text above and below it stays."""
    for p_index, paragraph in enumerate(paragraphs):
        if len(paragraph) > MAX_DISCLAIMER_LINES:
            continue
        start = meeting_block([lines[i] for i in paragraph])
        if start is None:
            continue
        block = paragraph[start:]
        for near in (p_index - 1, p_index + 1):
            alone = 0 <= near < len(paragraphs) and len(paragraphs[near]) == 1
            if alone and _SEPARATOR_LINE.match(lines[paragraphs[near][0]]):
                block.append(paragraphs[near][0])
        for i in block:
            labels[i] = "disclaimer"


def _sign_off_line(line: str) -> bool:
    """A sign-off line, one character long never (as the closings before a disclaimer or after "--" count)."""
    return len(_norm(line)) > 1 and sign_off_match(line)


def _bare_sign_off(line: str) -> bool:
    """A sign-off with no name on its line ("Kind regards,", not "Cheers, Fabian")."""
    text = _norm(line).split(" / ")[0].lower().strip(_TRAILING_PUNCT + "-–—* ")
    return text in _SIGN_OFF_SET


def _name_under_sign_off(lines: Sequence[str], above: int, delimiter: int, below: int) -> bool:
    """Is `below`, the line under a delimiter, the closing's name: a bare sign-off right above the delimiter
    (blank lines between), a name and no sign-off under it?"""
    if any(lines[k].strip() for k in range(above + 1, delimiter)) or not _bare_sign_off(lines[above]):
        return False
    return _closing_name_line(lines[below]) and not sign_off_match(lines[below])


def _client_text_after(lines: Sequence[str], after: Sequence[int]) -> bool:
    """Are `after` (a delimiter and the non-empty lines under it) the client's text: a sentence and then a
    closing (a sign-off, or a short line ending in "," over a name: "Cheers mate, / Mark"), or a paragraph
    that begins with a sentence and asks a question ("2) My daughter turns 16 in April. Can she open …?")?"""
    under = after[1:]
    first = [k for n, k in enumerate(under) if k == under[0] + n]  # the first paragraph under the delimiter
    if _prose(lines[first[0]]) and any(_question(lines[k]) for k in first):
        return True
    prose = False
    for n, k in enumerate(under):
        if _sign_off_line(lines[k]) or (n + 1 < len(under) and _closing_pair(lines, k, under[n + 1])):
            return prose
        prose = prose or _prose(lines[k])
    return False


def _closing_pair(lines: Sequence[str], line: int, below: int) -> bool:
    """A closing of any wording: a short line ending in "," ("Cheers mate,") with a name right under it."""
    text = _norm(lines[line])
    if below != line + 1 or not text.endswith(",") or len(text.split()) > 4 or not text[0].isupper():
        return False
    return not any(ch.isdigit() for ch in text) and _closing_name_line(lines[below])


def _question(line: str) -> bool:
    """A line with a question in it whose sentence has no contact detail and no legal words."""
    text = _norm(line)
    match = _QUESTION.search(text)
    if match is None:
        return False
    start = max(text.rfind(end, 0, match.start()) for end in (". ", "! ", "? ")) + 1
    sentence = text[max(start, match.end() - 300) : match.end()]
    return not _contact_signals(sentence) and not disclaimer_score([sentence])


def _label_tail(lines: Sequence[str], labels: list[str], own: Sequence[int]) -> None:
    body = [i for i in own if labels[i] == "body"]
    paragraphs = _paragraphs(body, lines)
    if not paragraphs:
        return
    # Company-register sentences under the closing and signature ("Neumann Logistik GmbH & Co. KG, Sitz
    # Bremen, Amtsgericht Bremen HRA 27741 HB. …") are set aside while the closing is looked for, and are a
    # disclaimer when it is found; without a closing they stay (they could be the client's own sentences).
    footer = 0
    while footer < len(paragraphs) - 1 and _register_footer([lines[k] for k in paragraphs[-1 - footer]]):
        footer += 1
    if footer:
        start = paragraphs[-footer][0]
        if _label_closing(lines, labels, [k for k in body if k < start], paragraphs[:-footer]):
            for k in body:
                if k >= start and lines[k].strip():
                    labels[k] = "disclaimer"
            return
    if _label_closing(lines, labels, body, paragraphs):
        return
    _label_unsigned_tail(lines, labels, body, paragraphs)


def _register_footer(texts: Sequence[str]) -> bool:
    """A company's register entries, in sentences or not: two kinds of register wording, not a P.S."""
    if len(texts) > MAX_DISCLAIMER_LINES or _POSTSCRIPT.match(texts[0]):
        return False
    return _impressum_kinds(" ".join(_norm(line) for line in texts)) >= 2


def _label_closing(
    lines: Sequence[str], labels: list[str], body: list[int], paragraphs: list[list[int]]
) -> bool:
    """Label the sign-off and the name under it as closing and contact blocks under them as signature; False
    (nothing labelled) when `paragraphs`, the own lines `body`, do not end with a sign-off and its name or
    signature."""
    # the last sign-off within the last three paragraphs, with nothing but name/signature after it
    sign_off: int | None = None
    tail_paragraphs = paragraphs[-3:]
    for paragraph in reversed(tail_paragraphs):
        for i in reversed(paragraph[-MAX_SIGNATURE_LINES:]):
            if sign_off_match(lines[i]):
                after = [k for k in body if k > i and lines[k].strip()]
                if len(after) <= 15 and sum(_prose(lines[k]) for k in after) <= (1 if len(after) >= 4 else 0):
                    sign_off = i
                break
        if sign_off is not None:
            break
        if any(_prose(lines[i]) for i in paragraph):
            break
    if sign_off is None:
        return False
    labels[sign_off] = "closing"
    after = [k for k in body if k > sign_off and lines[k].strip()]
    if not after:
        return True
    after_paragraphs = _paragraphs([k for k in body if k > sign_off], lines)
    first = after_paragraphs[0]
    same_paragraph = first[0] == sign_off + 1
    name_on_sign_off_line = not _bare_sign_off(lines[sign_off])  # "Cheers, Fabian"
    names_taken = 0
    for p_index, paragraph in enumerate(after_paragraphs):
        texts = [lines[k] for k in paragraph]
        if p_index == 0 and not name_on_sign_off_line:
            if same_paragraph or not any(_contact_signals(t) for t in texts):
                for n, k in enumerate(paragraph):
                    if names_taken >= 2 or not _closing_name_line(lines[k]):
                        break
                    if names_taken and _heads_contact_block(lines, paragraph[n:]):
                        break  # "Regards, / Tom Kilbride / Kilbride Joinery / 07700 900 472": a company
                    labels[k] = "closing"
                    names_taken += 1
            elif (
                len(paragraph) > 1
                and _closing_name_line(texts[0])
                and _contact_block(texts[1:], after_closing=True)
            ):
                # "Kind regards, / (blank) / James Whitfield / Finance Director | … / T: …": the name
                # heads the contact block under it; it is the closing's name, the rest is signature
                labels[paragraph[0]] = "closing"
                names_taken = 1
        rest = [k for k in paragraph if labels[k] == "body"]
        if rest and _introduced(lines, labels, rest[0]):
            break  # "PS: meine neue Anschrift lautet:" — what follows is content
        under_name = p_index == 0 and names_taken and rest == [paragraph[0] + names_taken]
        if under_name and _lone_title(lines[rest[0]]):
            labels[rest[0]] = "signature"  # "Beste Grüße / Thomas Müller / Geschäftsführer"
            continue
        if rest and _contact_block([lines[k] for k in rest], after_closing=True):
            for k in rest:
                labels[k] = "signature"
    return True


def _heads_contact_block(lines: Sequence[str], block: Sequence[int]) -> bool:
    """Does the first of `block` (a second name-like line under the closing's name) head a contact block with
    the lines under it ("Kilbride Joinery / 07700 900 472"), as a company without a company word does?"""
    return len(block) > 1 and _contact_block([lines[k] for k in block], after_closing=True)


def _label_unsigned_tail(
    lines: Sequence[str], labels: list[str], body: list[int], paragraphs: list[list[int]]
) -> None:
    """No sign-off: contact blocks at the very end are signature, first as one block over short trailing
    paragraphs separated by blank lines (a "sparse" signature), then paragraph by paragraph. Without a
    closing, an address announced by the line above it, or in a message about a change of address, is
    content."""
    first_move = next((k for k in body if _ADDRESS_CHANGE.search(lines[k])), len(lines))

    def content(block: Sequence[int]) -> bool:
        if _introduced(lines, labels, block[0]) or any(account_line(lines[k]) for k in block):
            return True
        return first_move < block[0] and any(address_line(lines[k]) for k in block)

    tail: list[list[int]] = []
    for paragraph in reversed(paragraphs[1:]):
        if len(paragraph) > 3 or any(_prose(lines[k]) for k in paragraph) or sum(map(len, tail)) > 15:
            break
        tail.insert(0, paragraph)
    for start in range(len(tail) - 1):
        merged = [k for paragraph in tail[start:] for k in paragraph]
        if content(merged):
            continue
        texts = [lines[k] for k in merged]
        strong = sum(1 for t in texts if _contact_signals(t))
        named = any(_name_like(t) or _org_or_title(t) for t in texts)
        if len(merged) >= 3 and strong >= 2 and named and _contact_block(texts, after_closing=False):
            for k in merged:
                labels[k] = "signature"
            return
    for p_index in range(len(paragraphs) - 1, 0, -1):
        paragraph = paragraphs[p_index]
        texts = [lines[k] for k in paragraph]
        if content(paragraph) or not _contact_block(texts, after_closing=False):
            break
        for k in paragraph:
            labels[k] = "signature"


def _introduced(lines: Sequence[str], labels: Sequence[str], index: int) -> bool:
    """Is the nearest own non-empty line above `index` one that announces content ("… lautet:")?"""
    for k in range(index - 1, -1, -1):
        if lines[k].strip() and labels[k] in ("body", "closing"):
            return introduces_content(lines[k])
    return False
