"""The text of the demo intranet's PDF documents, block by block; demo/make_pdfs.py renders them.

Only the PDF core fonts are used, so every text here must be latin-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# A block is (kind, payload): "h1"/"h2"/"p" take a string, "ul" a list of strings,
# "table" a list of rows (the first is the header), "page" starts a new page.
Block = tuple[str, object]


@dataclass(frozen=True)
class PdfDoc:
    filename: str
    title: str
    author: str
    subject: str
    keywords: str
    created_at: datetime
    blocks: list[Block]


ARCHITECTURE = PdfDoc(
    filename="fleet-platform-architecture.pdf",
    title="Northwind Fleet platform: architecture overview",
    author="Olivia Grant",
    subject="How the Northwind Fleet cloud platform is built: services, data stores, infrastructure",
    keywords="architecture, fleet, services, kubernetes, postgresql, kafka, disaster recovery",
    created_at=datetime(2025, 10, 15, 9, 0, tzinfo=UTC),
    blocks=[
        ("h1", "Northwind Fleet platform: architecture overview"),
        (
            "meta",
            "Olivia Grant, CTO. Version 2.3, 15 October 2025. Reviewed by the Platform, Data Platform "
            "and Payments leads.",
        ),
        ("h2", "1. Purpose of this document"),
        (
            "p",
            "This overview is for engineers joining Northwind and for anyone who needs the big picture "
            "before reading a team's design documents. It names the main services, where their data lives, "
            "and which team owns them. It deliberately leaves out details that change often; those are in "
            "the team pages of the handbook and on the wiki.",
        ),
        ("h2", "2. System context"),
        (
            "p",
            "Three kinds of clients talk to the platform. Tern robots at customer sites receive missions "
            "and report their state. Supervisors use the Fleet web app and the Fleet Companion mobile app "
            "to watch the fleet and intervene. Customer administrators use the Customer Portal for users, "
            "invoices, spare parts and support. Everything runs in AWS, in the eu-central-1 region "
            "(Frankfurt), with a disaster recovery copy of the data in eu-west-1 (Ireland).",
        ),
        (
            "p",
            "Robots are safe without the cloud: if the connection is lost a robot finishes its current "
            "mission, parks at the nearest safe spot and waits. This is a hard design rule. No cloud "
            "feature may be required for a robot to stop safely.",
        ),
        ("h2", "3. Main services"),
        (
            "table",
            [
                ("Service", "What it does", "Owner"),
                ("fleet-api", "Public HTTPS API for robots and apps; missions, sites, robots", "Fleet"),
                (
                    "mission-planner",
                    "Assigns totes to robots and plans routes every 2 seconds per site",
                    "Fleet",
                ),
                (
                    "telemetry-bridge",
                    "Moves robot messages from the MQTT brokers into Kafka",
                    "Data Platform",
                ),
                ("billing-service", "Subscriptions, usage, invoices, ledger; talks to Stripe", "Payments"),
                ("portal-backend", "Backend of the Customer Portal", "Web Experience"),
                ("parts-advisor", "Spare part recommendations per site", "Machine Learning"),
                ("notification-service", "Email, push and webhook notifications to customers", "Fleet"),
            ],
        ),
        (
            "p",
            "Services are written in Python (FastAPI) or Kotlin, communicate over HTTP with JSON inside "
            "the cluster and through Kafka for events. Every service owns its data; no service reads another "
            "service's database tables directly.",
        ),
        ("page", None),
        ("h2", "4. Data stores"),
        (
            "ul",
            [
                "fleetdb (PostgreSQL 16 with Patroni, three nodes): missions, robots, sites, users. Accessed "
                "through PgBouncer.",
                "billingdb (PostgreSQL 16): subscriptions, invoices and the double-entry ledger.",
                "Amazon MSK (Kafka): robot state and health messages and fleet events. Short retention; "
                "Kafka is a pipe, not an archive.",
                "S3: raw telemetry as Parquet, database backups, Vault snapshots.",
                "Snowflake: the analytical warehouse and the offline feature store.",
                "Redis (ElastiCache): caches, rate limits and the online feature store.",
            ],
        ),
        (
            "p",
            "Robot telemetry reaches the platform over MQTT; the Data Platform team documents that path "
            "end to end on its telemetry pipeline page.",
        ),
        ("h2", "5. Infrastructure"),
        (
            "p",
            "Stateless services run on Amazon EKS: the clusters prod-eu1, staging-eu1 and tools-eu1. "
            "Deployments are GitOps: Argo CD applies the Helm charts and environment values from the "
            "northwind/deploy repository. Infrastructure outside Kubernetes (VPCs, databases, IAM, DNS) is "
            "managed with Terraform in northwind/infra. Secrets come from HashiCorp Vault, identities from "
            "Okta.",
        ),
        (
            "p",
            "The PostgreSQL clusters run on EC2 rather than RDS because we need synchronous replicas "
            "across three availability zones and control over extensions and upgrade timing. We revisit "
            "this decision every year (ADR-014).",
        ),
        ("h2", "6. Reliability targets"),
        (
            "table",
            [
                ("Component", "Availability target", "Recovery point", "Recovery time"),
                ("fleet-api", "99.9% over 28 days", "n/a", "15 minutes (redeploy)"),
                ("fleetdb", "99.95%", "about 1 minute", "4 hours"),
                ("billingdb", "99.9%", "about 1 minute", "8 hours"),
                ("Telemetry archive", "best effort", "24 hours (robot buffer)", "1 day"),
            ],
        ),
        (
            "p",
            "A full regional failover to eu-west-1 is a manual decision by the CTO. We rehearse it once "
            "a year; the 2025 rehearsal restored service in 6 hours 10 minutes, inside the 8-hour goal.",
        ),
        ("page", None),
        ("h2", "7. Security boundaries"),
        (
            "ul",
            [
                "Robots authenticate with per-robot client certificates; users with Okta (staff) or the "
                "customer's identity provider or a password plus MFA (customers).",
                "Card data never enters our systems; the billing pages embed Stripe Elements.",
                "Production data is reachable only from inside the VPCs. Humans use the bastion with "
                "short-lived certificates; all sessions are recorded.",
                "Each team's namespace has network policies that deny traffic by default.",
            ],
        ),
        ("h2", "8. Architecture decisions"),
        (
            "p",
            "Significant decisions are recorded as architecture decision records (ADRs) in "
            "northwind/adr. The ones every newcomer should read:",
        ),
        (
            "table",
            [
                ("ADR", "Decision", "Author"),
                ("ADR-003", "One Kubernetes cluster per environment, namespaces per service", "Ana Alvarez"),
                ("ADR-009", "Kafka for robot telemetry instead of writing to PostgreSQL", "Jonas Lindqvist"),
                ("ADR-014", "Self-managed PostgreSQL with Patroni on EC2", "Dmitri Volkov"),
                ("ADR-017", "Stripe as the single payment service provider", "Priya Raman"),
                ("ADR-021", "Feast as feature store, Snowflake offline and Redis online", "Mei Tanaka"),
                ("ADR-024", "Harbor design tokens shared by web and mobile", "Lukas Becker"),
            ],
        ),
        ("h2", "9. Who to ask"),
        (
            "p",
            "Platform and Kubernetes: Ana Alvarez and Ben Okafor. Databases: Chloe Martin. Data "
            "pipelines: Jonas Lindqvist. Payments: Priya Raman. Machine learning: Mei Tanaka. Web: Lukas "
            "Becker. Mobile: Fatima Haddad. Security: Samuel Reyes. When in doubt, ask in #eng-help or on "
            "the eng-discuss mailing list.",
        ),
    ],
)

TRAVEL = PdfDoc(
    filename="travel-and-expense-policy.pdf",
    title="Travel and expense policy",
    author="Martin Keller",
    subject="Booking business travel and claiming expenses at Northwind Robotics",
    keywords="travel, expenses, hotels, flights, per diem, reimbursement",
    created_at=datetime(2025, 9, 1, 8, 30, tzinfo=UTC),
    blocks=[
        ("h1", "Travel and expense policy"),
        (
            "meta",
            "Martin Keller, COO. Valid from 1 September 2025 for all employees of Northwind Robotics "
            "GmbH and Northwind Robotics Portugal, Lda.",
        ),
        ("h2", "1. Principles"),
        (
            "p",
            "Travel when meeting in person is worth it: customer site visits, installations, team "
            "offsites, conferences you speak at. Spend the company's money as if it were your own, choose "
            "the option that is sensible rather than the cheapest at any cost, and keep your receipts. This "
            "policy tells you what is reimbursed; your manager can approve exceptions in writing.",
        ),
        ("h2", "2. Before you travel"),
        (
            "ul",
            [
                "Get your manager's approval for the trip before booking. Customer visits also need the "
                "customer project code from Customer Success, so the costs can be charged to the project.",
                "Book flights, trains and hotels through the company travel tool (TravelPerk). Bookings made "
                "elsewhere are reimbursed only if they were cheaper for the same trip.",
                "Register trips outside the EU with the People team at least two weeks ahead, for insurance "
                "and, where needed, work permits.",
            ],
        ),
        ("h2", "3. Getting there"),
        (
            "ul",
            [
                "Take the train for journeys of up to six hours (for example Berlin to Hamburg, Munich or "
                "Frankfurt). Second class; first class for journeys longer than four hours.",
                "Flights are economy class. Premium economy is allowed for flights longer than six hours; "
                "business class only for flights longer than nine hours, with director approval.",
                "Taxis and ride-hailing are fine late at night, with luggage or heavy equipment, or when "
                "public transport would take more than twice as long.",
                "Private car: EUR 0.30 per kilometre, when it is cheaper than a rental car or the train.",
            ],
        ),
        ("page", None),
        ("h2", "4. Hotels"),
        (
            "p",
            "Book a standard room in a business hotel close to where you work. The nightly price, "
            "including taxes and excluding breakfast, should not exceed these limits:",
        ),
        (
            "table",
            [
                ("City or region", "Limit per night"),
                ("Berlin", "EUR 160"),
                ("Lisbon", "EUR 140"),
                ("Munich, Hamburg, Frankfurt", "EUR 170"),
                ("Other cities in Europe", "EUR 150"),
                ("London", "GBP 220"),
                ("United States", "USD 250"),
            ],
        ),
        (
            "p",
            "During trade fairs prices can be far higher; book early and tell your manager if no room "
            "is available under the limit. Airbnb and similar are allowed if the price is within the limit "
            "and you are not sharing the flat with strangers.",
        ),
        ("h2", "5. Meals and per diem"),
        (
            "p",
            "In Germany we pay the statutory per diem: EUR 28 for a full day away and EUR 14 for the "
            "days of arrival and departure, reduced when meals are provided (breakfast by 20 percent, lunch "
            "and dinner by 40 percent each). For trips abroad the official rates for the destination country "
            "apply. Employees of the Portuguese company receive the per diem set in their contract.",
        ),
        (
            "p",
            "Meals with customers or partners are reimbursed at cost up to EUR 80 per person, including "
            "drinks. Write the names of the guests and their companies on the receipt. Alcohol is not "
            "reimbursed on meals without external guests.",
        ),
        ("page", None),
        ("h2", "6. Claiming expenses"),
        (
            "ul",
            [
                "Pay with your company card if you have one; otherwise pay privately and claim the amount.",
                "Submit every expense in the expense tool (Pleo) within 30 days, with a photo of the receipt. "
                "Claims older than 90 days are not reimbursed.",
                "Private expenses paid with the company card are deducted from your next salary payment.",
                "Reimbursements are paid with the next payroll after approval.",
            ],
        ),
        ("h2", "7. What is not reimbursed"),
        (
            "ul",
            [
                "Fines for parking or traffic offences, and lost luggage not claimed from the airline.",
                "Minibar, in-room films, spa and gym fees.",
                "Upgrades you chose yourself, and loyalty programme fees.",
                "Costs of a companion travelling with you.",
            ],
        ),
        ("h2", "8. Safety"),
        (
            "p",
            "If something goes wrong on a trip (an accident, a theft, a cancelled flight that strands "
            "you), call the travel tool's 24/7 line first, then your manager. Your safety comes before any "
            "customer appointment. The company's travel insurance covers medical emergencies abroad for all "
            "registered business trips.",
        ),
    ],
)

SECURITY_POLICY = PdfDoc(
    filename="information-security-policy.pdf",
    title="Information security policy",
    author="Samuel Reyes",
    subject="Rules for protecting company and customer information at Northwind Robotics",
    keywords="security, policy, data classification, devices, passwords, incident reporting",
    created_at=datetime(2025, 6, 30, 14, 0, tzinfo=UTC),
    blocks=[
        ("h1", "Information security policy"),
        (
            "meta",
            "Samuel Reyes, Security. Version 3.1, approved by Olivia Grant (CTO) on 30 June 2025. "
            "Applies to all employees and contractors.",
        ),
        ("h2", "1. Why this policy exists"),
        (
            "p",
            "Our customers trust us with data about their warehouses, their people and their robots, "
            "and our robots move heavy loads next to people. A security failure can stop a customer's "
            "operations or hurt someone. This policy sets the minimum rules; team runbooks may be stricter.",
        ),
        ("h2", "2. Classifying information"),
        (
            "table",
            [
                ("Class", "Examples", "Who may see it"),
                ("Public", "Website, public handbook pages, published docs", "Anyone"),
                ("Internal", "Runbooks, design documents, most of the intranet", "All staff"),
                ("Confidential", "Customer data, contracts, source code, financials", "Staff who need it"),
                ("Restricted", "Salaries, security incidents, secrets, legal disputes", "Named groups only"),
            ],
        ),
        (
            "p",
            "When you create a document, give it the class of the most sensitive information in it. "
            "Restricted documents must carry an access list naming the group or people allowed to read them.",
        ),
        ("h2", "3. Devices"),
        (
            "ul",
            [
                "Use only company-managed laptops and phones for company work. Managed devices have full-disk "
                "encryption, a firewall and the endpoint agent; do not disable them.",
                "Screens lock after 5 minutes of inactivity. Lock your screen when you walk away.",
                "Install operating system and browser updates within 14 days; critical updates within 3 days.",
                "Never plug unknown USB devices into a company laptop, or company USB devices into robots at "
                "customer sites without the site's permission.",
            ],
        ),
        ("page", None),
        ("h2", "4. Accounts and passwords"),
        (
            "ul",
            [
                "Sign in through Okta with multi-factor authentication. Do not share accounts, ever.",
                "Use the company password manager for every password that is not covered by single sign-on. "
                "Passwords are at least 14 characters and unique per service.",
                "Service credentials and API keys live in Vault, never in code, tickets, chat or email.",
            ],
        ),
        ("h2", "5. Handling customer data"),
        (
            "p",
            "Use customer data only for the purpose the customer agreed to: running and supporting their "
            "fleet, billing, and improving our products as described in the data processing agreement. "
            "Copying production data to a laptop or to staging requires Security approval and is done with "
            "the anonymisation scripts. Export only what you need and delete it when you are done.",
        ),
        ("h2", "6. Reporting incidents"),
        (
            "p",
            "Report anything that might be a security incident to Security within one hour of noticing "
            "it: a lost laptop or phone, a phishing email you clicked, data sent to the wrong customer, a "
            "strange login alert. Write to security@northwind.example or post in #security; outside working "
            "hours, page the Security on-call in PagerDuty. Reporting early is always right, even if it turns "
            "out to be nothing. Nobody is punished for reporting their own mistake.",
        ),
        ("h2", "7. Exceptions"),
        (
            "p",
            "If a rule in this policy blocks legitimate work, ask for an exception in a SEC ticket. "
            "Exceptions are granted by Security, documented with a reason and an end date, and last at most "
            "one year.",
        ),
        ("h2", "8. Review"),
        (
            "p",
            "Security reviews this policy every year and after any major incident. Breaches of the policy "
            "are handled by your manager and the People team, in proportion to the harm and the intent.",
        ),
    ],
)

MENTORING = PdfDoc(
    filename="mentoring-programme.pdf",
    title="The Northwind mentoring programme",
    author="Grace Mwangi",
    subject="How mentors and mentees are matched and what each can expect",
    keywords="mentoring, mentors, career, learning, people",
    created_at=datetime(2025, 4, 7, 10, 0, tzinfo=UTC),
    blocks=[
        ("h1", "The Northwind mentoring programme"),
        ("meta", "Grace Mwangi, People Operations. Programme guide, edition April 2025."),
        ("h2", "1. What mentoring is here"),
        (
            "p",
            "A mentor is an experienced colleague outside your reporting line who helps you grow: in a "
            "skill, in your career, or in understanding how Northwind works. Mentoring is not management. "
            "Your mentor does not assess your performance and does not talk to your manager about you "
            "unless you ask them to.",
        ),
        ("h2", "2. Becoming a mentor"),
        (
            "ul",
            [
                "Anyone who has worked at Northwind for at least a year can be a mentor.",
                "Opt in on your profile in the people directory and set your capacity: how many mentees you "
                "can take at the same time, between one and three. You can change it or pause at any time.",
                "Mentors spend about two hours a month per mentee, in working time.",
                "Take the two-hour mentor training (offered every quarter) before your first mentee.",
            ],
        ),
        ("h2", "3. Finding a mentor"),
        (
            "p",
            "Mentees can ask for a mentor after their first three months. Start with what you want to "
            "learn, for example 'running a database in production' or 'moving from engineer to team lead'. "
            "The Who knows search on the intranet shows colleagues who have written, answered or maintained "
            "the most about a topic; among them, those who opted in as mentors and still have capacity are "
            "marked. We also look for at least three hours of overlap in working hours, so that meetings "
            "do not have to happen at night for one of you.",
        ),
        (
            "p",
            "Send your request to people@northwind.example or contact the mentor directly. The mentor "
            "answers within a week and may decline without giving a reason.",
        ),
        ("page", None),
        ("h2", "4. How a mentoring relationship runs"),
        (
            "ul",
            [
                "Cycles last six months and start in April and October. Joining mid-cycle is fine.",
                "Meet every two weeks for about 45 minutes, by video or in person.",
                "In the first meeting, agree on one to three goals and write them down.",
                "The mentee sets the agenda; the mentor asks questions more often than they give answers.",
                "What you discuss stays between you, unless someone's safety is at risk.",
            ],
        ),
        ("h2", "5. Ending or changing"),
        (
            "p",
            "Either side can end the relationship at any time, with a short message and no explanation "
            "needed. At the end of a cycle you can continue, pick new goals, or look for another mentor. Tell "
            "the People team so the mentor's capacity is freed in the directory.",
        ),
        ("h2", "6. Feedback"),
        (
            "p",
            "At the end of each cycle we send both sides a five-question survey. Results are anonymous "
            "and shape the next cycle. In the October 2024 cycle 31 pairs took part, and 87 percent of "
            "mentees said they would recommend the programme to a colleague.",
        ),
    ],
)

DOCS = [ARCHITECTURE, TRAVEL, SECURITY_POLICY, MENTORING]
