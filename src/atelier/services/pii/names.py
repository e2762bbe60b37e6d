"""Signals from a column's name, and the word lists the value recognisers use.

A column's name is split into lowercase words (``customerEmail`` and ``customer_email`` both give
``customer``, ``email``). Short keywords must be a whole word (``pan`` is not in ``company``);
keywords of five letters or more also match inside a run-together name (``emailaddress``,
``geburtsdatum``). The lists cover English, German, French, Spanish, Italian, Dutch, Portuguese
and the Nordic languages.
"""

from __future__ import annotations

import re
import unicodedata

from atelier.services.pii.kinds import PiiKind


def _words(text: str) -> list[str]:
    return text.split()


KEYWORDS: dict[PiiKind, frozenset[str]] = {
    PiiKind.EMAIL: frozenset(
        _words("email e_mail mail emailaddress mailaddress courriel correo posta_elettronica")
    ),
    PiiKind.PHONE: frozenset(
        _words(
            "phone tel telephone telefon telefono telefone telefoon mobile mobil mobiel cell "
            "cellphone msisdn handy portable fax celular movil cellulare gsm"
        )
    ),
    PiiKind.PERSON_NAME: frozenset(
        _words(
            "first_name firstname last_name lastname surname full_name fullname given_name "
            "givenname family_name familyname forename middle_name maiden_name customer_name "
            "contact_name client_name patient_name employee_name holder cardholder account_holder "
            "vorname nachname prenom nom nom_complet apellido apellidos nombre cognome nome "
            "voornaam achternaam naam fornavn efternavn etternavn fornamn efternamn person "
            "beneficiary"
        )
    ),
    PiiKind.POSTAL_ADDRESS: frozenset(
        _words(
            "address addr street street_address address_line address1 address2 adresse anschrift "
            "strasse direccion indirizzo adres endereco morada residence home_address "
            "mailing_address billing_address shipping_address postal_address domicile domicilio "
            "woonadres"
        )
    ),
    PiiKind.DATE_OF_BIRTH: frozenset(
        _words(
            "dob birth birthdate birthday date_of_birth born geburtsdatum geburtstag "
            "date_naissance naissance fecha_nacimiento nacimiento data_nascita nascita "
            "geboortedatum fodselsdato fodelsedatum data_nascimento fecha_nac"
        )
    ),
    PiiKind.NATIONAL_ID: frozenset(
        _words(
            "ssn social_security sin nino ni_number national_id nationalid national_insurance "
            "passport passport_number tax_id taxid tin steuer_id steuerid idnr personalausweis "
            "nir insee securite_sociale bsn dni nie nif codice_fiscale codicefiscale personnummer "
            "cpr hetu henkilotunnus pesel aadhaar cpf curp nhs nhs_number ahv id_number idnumber "
            "fodselsnummer personnr "
            "rrn citizen_id identity_number"
        )
    ),
    PiiKind.PAYMENT_CARD: frozenset(
        _words(
            "card card_number cardnumber cc ccnum cc_number credit_card creditcard pan "
            "kreditkarte carte tarjeta carta_credito"
        )
    ),
    PiiKind.IBAN: frozenset(
        _words("iban bank_account account_number kontonummer rib bankrekening cuenta")
    ),
    PiiKind.IP_ADDRESS: frozenset(
        _words(
            "ip ip_address ipaddress ipaddr client_ip remote_addr remote_ip src_ip source_ip "
            "dst_ip ipv4 ipv6"
        )
    ),
    PiiKind.FREE_TEXT_WITH_PII: frozenset(
        _words(
            "comment comments note notes message messages description remarks remark body text "
            "feedback bemerkung kommentar commentaire comentario nota notizen opmerking memo "
            "transcript"
        )
    ),
}

# ``name`` alone says little (product names, file names): a weak signal for person names.
WEAK_NAME_WORDS = frozenset(
    {"name", "names", "customer", "client", "contact", "owner", "kunde", "cliente", "klant"}
)


def words(column: str) -> list[str]:
    """The lowercase, accent-free words of a column name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column)
    plain = unicodedata.normalize("NFKD", spaced).encode("ascii", "ignore").decode()
    return [w for w in re.split(r"[^a-z0-9]+", plain.lower()) if w]


def name_signals(column: str) -> dict[PiiKind, bool]:
    """Which kinds the column's name points at: True strong, False weak, absent none."""
    tokens = words(column)
    joined = "_".join(tokens)
    compact = "".join(tokens)
    signals: dict[PiiKind, bool] = {}
    for kind, keywords in KEYWORDS.items():
        for keyword in keywords:
            parts = keyword.split("_")
            if _contains(tokens, parts) or (
                len(keyword) >= 5 and keyword.replace("_", "") in compact
            ):
                signals[kind] = True
                break
    if PiiKind.PERSON_NAME not in signals and any(t in WEAK_NAME_WORDS for t in tokens):
        signals[PiiKind.PERSON_NAME] = False
    # "ip" inside "zip" or "tip" never counts; "ship_to_address" is an address, not a name.
    if joined in {"zip", "zipcode", "zip_code"}:
        signals.pop(PiiKind.IP_ADDRESS, None)
    return signals


def _contains(tokens: list[str], parts: list[str]) -> bool:
    size = len(parts)
    return any(tokens[i : i + size] == parts for i in range(len(tokens) - size + 1))


# Given names and surnames common in several countries: a name column's values hit these often,
# a column of product names, cities or categories rarely does.
GIVEN_NAMES = frozenset(
    _words(
        "james john robert michael william david richard joseph thomas charles christopher daniel "
        "matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy "
        "ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin "
        "scott brandon benjamin samuel gregory alexander patrick frank raymond jack dennis jerry "
        "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy "
        "betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa "
        "deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda "
        "pamela emma nicole helen samantha katherine christine debra rachel carolyn janet "
        "catherine maria heather diane ruth julie olivia joyce virginia victoria kelly lauren "
        "christina joan evelyn judith megan andrea cheryl hannah jacqueline martha gloria teresa "
        "ann sara madison frances kathryn janice jean abigail alice julia judy sophia grace "
        "denise amber doris marilyn danielle beverly isabella theresa diana natalie brittany "
        "charlotte marie kayla alexis lori oliver harry noah leo oscar archie freddie arthur "
        "alfie isla ava mia amelia poppy freya lily ella ellie hans peter klaus jurgen wolfgang "
        "michael stefan andreas thomas frank uwe dieter gunter lukas finn jonas leon felix "
        "maximilian paul elias ursula monika petra sabine renate helga karin brigitte ingrid "
        "gisela claudia susanne andrea birgit katharina lena leonie jean pierre michel philippe "
        "alain nicolas christophe patrick francois laurent eric sebastien julien olivier antoine "
        "guillaume mathieu hugo louis gabriel raphael arthur jules marie nathalie isabelle sylvie "
        "catherine francoise valerie sandrine christine sophie celine aurelie camille manon chloe "
        "ines lea jade louise jose antonio manuel francisco juan javier carlos jesus alejandro "
        "miguel rafael pedro angel pablo fernando luis sergio jorge alberto alvaro diego adrian "
        "raul enrique ramon carmen josefa isabel dolores pilar teresa rosa cristina lucia paula "
        "marta elena sofia laura raquel beatriz silvia mercedes alba giuseppe giovanni francesco "
        "mario luigi roberto stefano marco alessandro andrea luca matteo lorenzo leonardo "
        "riccardo davide simone federico giulia chiara francesca alessandra valentina federica "
        "giorgia martina aurora anna rosa elisa jan pieter kees johannes hendrik cornelis willem "
        "gerrit dirk bram daan sem lars ruben thijs anouk femke sanne lotte fleur eva saskia "
        "ingrid joao antonio francisco carlos paulo pedro lucas luiz marcos gabriel rafael ana "
        "francisca antonia adriana juliana marcia fernanda patricia aline piotr krzysztof andrzej "
        "tomasz pawel jan michal marcin jakub anna katarzyna malgorzata agnieszka barbara ewa "
        "magdalena zofia erik lars anders johan karl nils per olof sven mats henrik astrid ingrid "
        "kerstin birgitta sigrid maja elsa ebba rahul amit raj sanjay vijay anil sunil ravi arjun "
        "rohan aditya priya pooja anita sunita neha kavita deepa lakshmi hiroshi takashi kenji "
        "yuki haruto sota yuto akira kenta yui sakura hina aoi yuna mei wei jing li ming lei jun "
        "hui yan fang mohammed muhammad ahmed ali omar hassan youssef mustafa ibrahim fatima "
        "aisha zainab maryam layla nour olga irina natalia tatiana svetlana elena ivan sergei "
        "dmitri alexei vladimir "
        # Polish, Czech, Hungarian
        "agnieszka grzegorz malgorzata krzysztof bozena wojciech jadwiga przemyslaw urszula "
        "zbigniew jozef stanislaw tadeusz kazimierz jerzy janina danuta elzbieta halina "
        "jolanta iwona joanna beata dorota aleksandra justyna monika weronika kacper "
        "mateusz szymon bartosz dawid wiktoria jiri petr pavel jana eva hana laszlo zoltan "
        "istvan gabor zsofia "
        # Chinese given names (pinyin)
        "xiaoming na wei yang jie lei min xin hao jing li chao yan bo qiang ping fang hong "
        "jun ying yu tao ling juan xia gang yong jian hua qing mei lan "
        # Japanese given names
        "haruto hanako mitsuki rin sota yuna daichi kaito misaki shun ayaka tsubasa riku "
        "nanami emi sho mao takeru asuka ren minato hinata yamato himari tsumugi mio kei "
        "shota naoki yuko keiko akiko tomoko yoko kazuki takumi haruka "
        # Korean, Vietnamese
        "minjun seojun jiho jiwoo seoyeon hana jisoo minji hoang minh thanh huong lan anh "
        "tuan linh trang nam phuong "
        # Dutch, Nordic, French, Portuguese
        "sanne bram joris mirjam wessel annemieke gijs hanneke stijn roos maarten ingeborg "
        "floor koen marloes tijmen jeroen niels bas marieke sjoerd femke linnea oskar "
        "aurelien clemence matheo solene gwenael anais loic maeva timothee berenice elodie "
        "jeremie noemie frederic thiago matheus gustavo leticia beatriz "
        # Turkish, Arabic, Persian, Hebrew, African
        "mehmet mustafa emre burak zeynep elif ayse fatma murat hakan khalid karim tariq "
        "samir leila yasmin salma reza ali parisa moshe yosef avi noa tamar chinedu emeka "
        "ngozi chiamaka kwame kofi ama abena amara oluwaseun funmilayo babatunde wanjiru "
        "zahra amina"
    )
)

SURNAMES = frozenset(
    _words(
        "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
        "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
        "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
        "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
        "roberts evans turner phillips parker collins edwards stewart morris murphy cook rogers "
        "morgan cooper peterson reed bailey bell kelly howard ward cox richardson wood watson "
        "brooks bennett gray james hughes price sanders myers long ross foster patel khan singh "
        "obrien mcdonald muller mueller schmidt schneider fischer weber meyer wagner becker "
        "schulz hoffmann schafer koch bauer richter klein wolf schroder neumann schwarz "
        "zimmermann braun kruger hofmann hartmann lange werner krause martin bernard dubois "
        "thomas robert richard petit durand leroy moreau simon laurent lefebvre michel david "
        "bertrand roux vincent fournier morel girard andre mercier dupont lambert bonnet francois "
        "martinez fernandez gomez diaz moreno munoz alvarez romero alonso gutierrez navarro ruiz "
        "jimenez dominguez vazquez ramos gil serrano blanco molina castro ortiz rubio marin rossi "
        "russo ferrari esposito bianchi romano colombo ricci marino greco bruno gallo conti "
        "deluca costa giordano mancini rizzo lombardi moretti jansen janssen visser smit meijer "
        "mulder bos vos peters hendriks bakker dijkstra vries boer silva santos oliveira souza "
        "pereira lima carvalho ferreira rodrigues almeida nowak kowalski wisniewski wojcik "
        "kowalczyk kaminski lewandowski zielinski andersson johansson karlsson nilsson eriksson "
        "larsson olsson persson hansen nielsen jensen pedersen johansen berg sharma gupta kumar "
        "reddy iyer rao mehta joshi nair sato suzuki takahashi tanaka watanabe ito yamamoto "
        "nakamura kobayashi kato wang zhang liu chen yang huang zhao wu zhou ivanov smirnov "
        "kuznetsov popov petrov "
        # Polish (the feminine -ska, -cka forms are derived: see values.person_name)
        "nowak kowalski wisniewski wojcik kaminski lewandowski zielinski szymanski wozniak "
        "dabrowski kozlowski jankowski mazur kwiatkowski krawczyk piotrowski grabowski "
        "nowakowski pawlowski michalski krol wieczorek jablonski wrobel majewski olszewski "
        "stepien malinowski jaworski adamczyk dudek nowicki pawlak gorski witkowski walczak "
        # Chinese (pinyin: the hundred commonest surnames cover most people)
        "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo "
        "zheng liang xie song tang han feng deng cao peng zeng xiao tian dong yuan pan yu jiang "
        "cai du ye cheng wei su lu ding ren shen yao jin cui tan fan fu qian qin shi "
        # Japanese
        "yoshida yamada sasaki yamaguchi matsumoto inoue kimura hayashi shimizu yamazaki mori "
        "abe ikeda hashimoto yamashita ishikawa nakajima maeda fujita ogawa goto okada "
        "hasegawa murakami kondo ishii sakamoto endo aoki fujii nishimura fukuda ota miura "
        "fujiwara okamoto matsuda nakagawa nakano harada ono tamura takeuchi kaneko wada "
        # Korean and Vietnamese
        "kim park choi jung kang cho yoon jang lim shin han oh seo kwon hwang ahn song hong "
        "tran le pham hoang phan vu dang bui do ho ngo duong ly "
        # Turkish, Arabic, Persian, Hebrew
        "yilmaz kaya demir sahin celik yildiz yildirim ozturk aydin ozdemir arslan dogan "
        "kilic aslan cetin kara koc kurt ozkan simsek hassan hussein abdullah rahman haddad "
        "khalil mansour nasser saleh aziz hosseini mohammadi ahmadi rezaei cohen levi "
        "mizrahi peretz biton friedman "
        # West and East African
        "okafor okonkwo adeyemi balogun eze nwosu adebayo mensah owusu boateng asante "
        "osei mwangi otieno kamau ochieng njoroge diallo traore diop ndiaye "
        # Portuguese, Greek, Hungarian, Czech, Irish, Scottish
        "alves gomes martins ribeiro fernandes goncalves sousa marques papadopoulos "
        "nagy horvath kovacs szabo toth novak svoboda novotny dvorak murphy kelly "
        "walsh byrne ryan oconnor obrien macdonald campbell stewart"
    )
)

# Words before a name in free text ("Mr Smith", "Frau Müller", "Mme Dubois", "Sr. García").
HONORIFICS = _words(
    "mr mrs ms mx miss dr prof sir madam herr frau mme mlle madame monsieur sr sra srta don dona "
    "signor signora sig dhr mevr"
)

# Legal forms of companies: a value with one of these words is a company's name, even when a
# surname is in it ("Müller GmbH", "Smith & Sons Ltd", "Garcia Logistics S.L.").
LEGAL_FORMS = frozenset(
    _words(
        "gmbh ag kg ohg ug ev ltd limited plc llc llp lp inc incorporated corp corporation co "
        "company sa sas sarl sasu eurl sl slu sau spa srl snc sapa bv nv vof ab asa oy oyj aps "
        "kk yk sro as kft zrt bt doo ooo oao pty pvt bhd sdn gk group holding holdings "
        "partners associates bros brothers sons fils figli hijos"
    )
)
