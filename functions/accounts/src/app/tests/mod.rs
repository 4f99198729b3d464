//! Use-case rules against in-memory fakes of the ports: sign-up without enumeration and its crash
//! recovery, confirmation, the second factor, one's own profile and its erasure, what only staff
//! do, and the events each use case writes.

mod fakes;
mod profile;
mod sessions;
mod sign_up;
mod staff;

use std::sync::Arc;

use clinic_shared::auth::Caller;
use clinic_shared::clock::{Clock, ManualClock};
use clinic_shared::envelope::{
    AccountCreated, AccountUpdated, DoctorRegistered, EventType, HospitalRegistered, Language,
    PatientRegistered, Preferences, Role, SignUpRepeated,
};
use clinic_shared::values::patient_match_key;
use jiff::{SignedDuration, Timestamp};

use self::fakes::{CODE, ClaimItem, Identity, Store, TOTP};
use super::{Accounts, NewDoctor, NewHospital, NewPatient, ProfileChanges, session_key};
use crate::domain::error::{IdentityError, StoreError};
use crate::domain::values::{BirthDate, Cnes, Cpf, Crm, Email, Name, Password, Phone, Specialty};
use crate::domain::{AccountStatus, AccountsError, Claim, IdentityProvider, SignIn, SignUpOutcome};

const PASSWORD: &str = "Secret0pass";
const CPF: &str = "52998224725";
const OTHER_CPF: &str = "11144477735";
const ANA: &str = "ana@example.com";
const BIA: &str = "bia@example.com";
const TRACE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// Both ports in memory and the clock they and the use cases read.
struct World {
    identity: Identity,
    store: Store,
    clock: ManualClock,
}

impl World {
    fn new() -> Self {
        let clock = ManualClock::at(Timestamp::from_second(1_800_000_000).unwrap());
        Self {
            identity: Identity::default(),
            store: Store::new(clock.clone()),
            clock,
        }
    }

    fn accounts(&self) -> Accounts<&Identity, &Store> {
        Accounts::new(&self.identity, &self.store).with_clock(Arc::new(self.clock.clone()))
    }

    async fn sign_up(&self, address: &str) -> String {
        match self
            .accounts()
            .sign_up_patient(patient(address, CPF, PASSWORD), TRACE)
            .await
        {
            Ok(SignUpOutcome::Created(id)) => id,
            other => panic!("sign-up of {address}: {other:?}"),
        }
    }

    async fn patient(&self, address: &str) -> String {
        let id = self.sign_up(address).await;
        self.accounts()
            .confirm(&email(address), CODE, PASSWORD, TRACE)
            .await
            .unwrap();
        id
    }

    async fn doctor(&self, address: &str, crm: &str) -> String {
        self.accounts()
            .register_doctor(&staff(), doctor(address, crm, "SP", "Cardiologia"), TRACE)
            .await
            .unwrap()
            .id
    }

    fn users(&self) -> usize {
        self.identity.state().users.len()
    }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

fn password(raw: &str) -> Password {
    Password::parse(raw).unwrap()
}

fn patient(address: &str, cpf: &str, pass: &str) -> NewPatient {
    NewPatient {
        email: email(address),
        password: password(pass),
        name: Name::parse("Ana Souza").unwrap(),
        cpf: Cpf::parse(cpf).unwrap(),
        birth_date: BirthDate::parse("1990-05-01", jiff::civil::date(2026, 1, 1)).unwrap(),
        phone: Phone::parse("+5511987654321").unwrap(),
        preferences: Preferences::default(),
    }
}

fn doctor(address: &str, crm: &str, uf: &str, specialty: &str) -> NewDoctor {
    NewDoctor {
        email: email(address),
        name: Name::parse(&format!("Dr. {address}")).unwrap(),
        crm: Crm::parse(crm, uf).unwrap(),
        specialty: Specialty::parse(specialty).unwrap(),
        temporary_password: Some(password("Temp0rary1x")),
    }
}

fn hospital(cnes: &str) -> NewHospital {
    NewHospital {
        name: Name::parse("Hospital Central").unwrap(),
        cnes: Cnes::parse(cnes).unwrap(),
    }
}

fn caller(role: Role, id: &str) -> Caller {
    Caller {
        id: id.into(),
        role,
        scopes: vec![],
        username: None,
    }
}

/// A staff member provisioned outside the API: no profile here.
fn staff() -> Caller {
    caller(Role::Staff, "staff-1")
}

fn email_claim(address: &str) -> Claim {
    Claim::Email(address.into())
}

fn crm_claim(number: &str) -> Claim {
    Claim::Crm {
        uf: "SP".into(),
        number: number.into(),
    }
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("down".into())
}

fn identity_down() -> IdentityError {
    IdentityError::Unavailable("down".into())
}
