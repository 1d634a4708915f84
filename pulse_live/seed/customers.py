"""Demo data for customer identification: configuration items of the demo customers, ACME's organisation admin.

Both go through the customer services as the demo admin (audited as the admin's changes); idempotent.
"""
from __future__ import annotations

from sqlalchemy import select

from .. import db
from ..models import ConfigurationItem, User
from ..services import customers

ORG_ADMINS = ['carl@acme.demo']  # sees every ACME request in the portal; Eva sees only her own
# owner e-mail (None: shared by the organisation of ``org_of``), kind, name, model, serial, OS, version, software
ITEMS = [
    ('carl@acme.demo', 'hardware', 'Laptop CPH-LT-0231', 'Lenovo ThinkPad T14 Gen 3', 'PF3KX8Q1',
     'Windows 11 Pro 23H2', '', 'Microsoft 365 Apps\nCisco AnyConnect 4.10\nSAP GUI 8.0\nAdobe Acrobat Reader'),
    ('carl@acme.demo', 'hardware', 'Phone CPH-MB-0112', 'Apple iPhone 14', 'F2LXK9P0Q1', 'iOS 17.5', '',
     'Outlook\nMicrosoft Authenticator'),
    ('carl@acme.demo', 'software', 'ERP client', 'SAP GUI for Windows', '', '', '8.0 PL 7', ''),
    ('eva@acme.demo', 'hardware', 'Laptop CPH-LT-0187', 'Apple MacBook Air M2', 'C02GK1XYQ6L4', 'macOS 14 Sonoma',
     '', 'Microsoft 365\nSalesforce desktop\nZoom'),
    (None, 'hardware', 'Printer floor 3', 'HP LaserJet Enterprise M607', 'CNBJS12345', '', 'FW 5.6', ''),
    ('tom@globex.demo', 'hardware', 'Laptop LON-0042', 'Dell Latitude 5440', '7HJ2KL3', 'Windows 11 Pro 23H2', '',
     'Microsoft 365 Apps\nCisco AnyConnect 4.10\nWMS client 3.2'),
    ('lena@globex.demo', 'hardware', 'Laptop BER-0007', 'HP EliteBook 840 G9', '5CG2381XYZ', 'Windows 10 Pro 22H2',
     '', 'Microsoft 365 Apps\nPersonio'),
]
SHARED_ORG_OF = 'carl@acme.demo'  # shared items belong to this person's organisation


async def seed_customer_data(admin: User, users: dict[str, User]) -> None:
    for email in ORG_ADMINS:
        person = users.get(email)
        if person is not None and not person.is_org_admin:
            users[email] = await customers.save_customer(
                actor=admin, user_id=person.id, email=person.email, display_name=person.display_name,
                organisation_id=person.organisation_id, phone=person.phone, location=person.location,
                department=person.department, is_org_admin=True, is_active=person.is_active)
    async with db.session() as s:
        have = set((await s.execute(select(ConfigurationItem.organisation_id, ConfigurationItem.name))).all())
    for owner, kind, name, model, serial, os_name, version, software in ITEMS:
        person = users.get(owner or SHARED_ORG_OF)
        if person is None or (person.organisation_id, name) in have:
            continue
        await customers.save_configuration_item(
            actor=admin, organisation_id=person.organisation_id, user_id=person.id if owner else None, kind=kind,
            name=name, model=model, serial_number=serial, operating_system=os_name, version=version,
            installed_software=software)
