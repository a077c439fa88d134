"""Reference data about places: ISO countries and which jurisdiction each belongs to."""

from __future__ import annotations

# ISO 3166-1 alpha-2, officially assigned codes.
ISO_COUNTRIES: frozenset[str] = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
ZW
""".split())

# The 27 member states of the European Union.
EU_MEMBERS: frozenset[str] = frozenset("""
AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE
""".split())

# Jurisdiction codes that are not simply a country's own ISO code.
JURISDICTION_ALIASES: dict[str, str] = {"GB": "UK"}


def country_jurisdiction(country: str) -> str:
    """The jurisdiction a country's data falls under: EU for member states, else its own code."""
    if country in EU_MEMBERS:
        return "EU"
    return JURISDICTION_ALIASES.get(country, country)


def known_jurisdictions() -> frozenset[str]:
    """Every jurisdiction code a residency rule may name without a catalog entry."""
    return frozenset(country_jurisdiction(c) for c in ISO_COUNTRIES)
