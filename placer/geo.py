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


def _regions(spec: str) -> dict[str, str]:
    """'COUNTRY region region ...' lines → {region: COUNTRY}."""
    table: dict[str, str] = {}
    for line in spec.strip().splitlines():
        country, *regions = line.split()
        table.update(dict.fromkeys(regions, country))
    return table


# The country each public cloud region is in, from the providers' published region lists
# (AWS, Google Cloud, Azure, OCI, Nebius, Verda, Seeweb). Used when a catalog import
# meets a region placer's own catalog does not list yet.
CLOUD_REGION_COUNTRIES: dict[str, dict[str, str]] = {
    "aws": _regions("""
        US us-east-1 us-east-2 us-west-1 us-west-2 us-gov-east-1 us-gov-west-1
        CA ca-central-1 ca-west-1
        MX mx-central-1
        BR sa-east-1
        IE eu-west-1
        GB eu-west-2
        FR eu-west-3
        DE eu-central-1
        CH eu-central-2
        SE eu-north-1
        IT eu-south-1
        ES eu-south-2
        IL il-central-1
        BH me-south-1
        AE me-central-1
        ZA af-south-1
        HK ap-east-1
        TW ap-east-2
        IN ap-south-1 ap-south-2
        SG ap-southeast-1
        AU ap-southeast-2 ap-southeast-4
        ID ap-southeast-3
        MY ap-southeast-5
        TH ap-southeast-7
        JP ap-northeast-1 ap-northeast-3
        KR ap-northeast-2
    """),
    "gcp": _regions("""
        US us-central1 us-east1 us-east4 us-east5 us-south1
        US us-west1 us-west2 us-west3 us-west4
        CA northamerica-northeast1 northamerica-northeast2
        MX northamerica-south1
        BR southamerica-east1
        CL southamerica-west1
        BE europe-west1
        GB europe-west2
        DE europe-west3 europe-west10
        NL europe-west4
        CH europe-west6
        IT europe-west8 europe-west12
        FR europe-west9
        FI europe-north1
        SE europe-north2
        PL europe-central2
        ES europe-southwest1
        IL me-west1
        QA me-central1
        SA me-central2
        ZA africa-south1
        TW asia-east1
        HK asia-east2
        JP asia-northeast1 asia-northeast2
        KR asia-northeast3
        IN asia-south1 asia-south2
        SG asia-southeast1
        ID asia-southeast2
        AU australia-southeast1 australia-southeast2
    """),
    "azure": _regions("""
        US eastus eastus2 centralus northcentralus southcentralus westcentralus
        US westus westus2 westus3
        CA canadacentral canadaeast
        MX mexicocentral
        BR brazilsouth
        IE northeurope
        NL westeurope
        FR francecentral francesouth
        DE germanywestcentral germanynorth
        SE swedencentral swedensouth
        NO norwayeast norwaywest
        CH switzerlandnorth switzerlandwest
        GB uksouth ukwest
        IT italynorth
        PL polandcentral
        ES spaincentral
        AE uaenorth uaecentral
        QA qatarcentral
        IL israelcentral
        ZA southafricanorth southafricawest
        IN centralindia southindia westindia
        JP japaneast japanwest
        KR koreacentral koreasouth
        HK eastasia
        SG southeastasia
        AU australiaeast australiasoutheast australiacentral
        NZ newzealandnorth
    """),
    "oci": _regions("""
        US us-ashburn-1 us-phoenix-1 us-chicago-1 us-sanjose-1
        DE eu-frankfurt-1
        NL eu-amsterdam-1
        FR eu-paris-1 eu-marseille-1
        GB uk-london-1
        JP ap-tokyo-1 ap-osaka-1
    """),
    "nebius": _regions("""
        FI eu-north1
        FR eu-west1
        US us-central1
    """),
    "verda": _regions("""
        FI fin-01 fin-02 fin-03
        IS ice-01
    """),
    "seeweb": _regions("""
        IT it-fr2 it-mi2
    """),
}
