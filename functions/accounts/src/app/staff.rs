//! What staff do: register doctors and hospitals (with their machine clients), list doctors.

use super::*;

/// What only staff may do: checked by the use case, and by the HTTP edge before it reads the
/// body, so anyone else is refused (403) whatever it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffOperation {
    RegisterDoctor,
    RegisterHospital,
}

/// `Ok` for staff.
///
/// # Errors
/// `Forbidden` naming the operation.
pub fn authorize_staff(caller: &Caller, operation: StaffOperation) -> Result<(), AccountsError> {
    if caller.role == Role::Staff {
        return Ok(());
    }
    Err(AccountsError::Forbidden(match operation {
        StaffOperation::RegisterDoctor => "only staff register doctors",
        StaffOperation::RegisterHospital => "only staff register hospitals",
    }))
}

impl<I: IdentityProvider, S: AccountStore> Accounts<I, S> {
    /// Staff register a doctor: a Cognito user in `doctors` (invited: first sign-in sets the
    /// password) and a profile.
    ///
    /// # Errors
    /// `Forbidden` unless staff; `AlreadyUsed` for the e-mail or CRM; `Unavailable`.
    #[tracing::instrument(skip_all, fields(caller = %caller.id))]
    pub async fn register_doctor(
        &self,
        caller: &Caller,
        doctor: NewDoctor,
        trace: &str,
    ) -> Result<Profile, AccountsError> {
        authorize_staff(caller, StaffOperation::RegisterDoctor)?;
        self.ensure_not_erased(caller).await?;
        let claims = vec![
            Claim::Email(doctor.email.as_str().to_string()),
            Claim::Crm {
                uf: doctor.crm.uf().to_string(),
                number: doctor.crm.number().to_string(),
            },
        ];
        let reservation = Ulid::new().to_string();
        self.store.reserve(&claims, &reservation).await?;
        let id = match self
            .identity
            .create_user(&doctor.email, doctor.temporary_password.as_ref())
            .await
        {
            Ok(id) => id,
            Err(err) => {
                self.release_quietly(&claims, &reservation).await;
                return Err(match err {
                    IdentityError::InvalidPassword(reason) => {
                        AccountsError::field("temporaryPassword", reason)
                    }
                    other => map_creation_error(other),
                });
            }
        };
        let now = self.clock.now();
        let profile = Profile {
            id: id.clone(),
            role: Role::Doctor,
            status: AccountStatus::Invited,
            email: Some(doctor.email.as_str().to_string()),
            name: Some(doctor.name.as_str().to_string()),
            cpf: None,
            birth_date: None,
            phone: None,
            preferences: Preferences {
                sms: false,
                ..Preferences::default()
            },
            crm: Some(doctor.crm.number().to_string()),
            uf: Some(doctor.crm.uf().to_string()),
            specialty: Some(doctor.specialty.as_str().to_string()),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let events = vec![
            event(&id, account_created(&profile), trace),
            event(
                &id,
                DoctorRegistered {
                    account_id: id.clone(),
                    crm: doctor.crm.number().to_string(),
                    uf: doctor.crm.uf().to_string(),
                    specialty: doctor.specialty.as_str().to_string(),
                    email: doctor.email.as_str().to_string(),
                    invitation_sent_by_cognito: doctor.temporary_password.is_none(),
                },
                trace,
            ),
        ];
        self.finish_person(&profile, &claims, &reservation, &events)
            .await?;
        tracing::info!(account_id = %id, "doctor registered");
        Ok(profile)
    }

    /// Doctors, optionally of one specialty, for anyone signed in.
    ///
    /// # Errors
    /// `InvalidCursor`, `Unavailable`.
    pub async fn list_doctors(
        &self,
        specialty: Option<&str>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<DoctorSummary>, AccountsError> {
        let key = specialty
            .map(crate::domain::values::fold)
            .filter(|k| !k.is_empty());
        Ok(self
            .store
            .list_doctors(key.as_deref(), limit, cursor)
            .await?)
    }

    /// Staff register a hospital with its own client-credentials app client. The secret is in the
    /// answer only.
    ///
    /// # Errors
    /// `Forbidden` unless staff; `AlreadyUsed` for the CNES; `Unavailable`.
    #[tracing::instrument(skip_all, fields(caller = %caller.id))]
    pub async fn register_hospital(
        &self,
        caller: &Caller,
        hospital: NewHospital,
        trace: &str,
    ) -> Result<(Hospital, MachineClient), AccountsError> {
        authorize_staff(caller, StaffOperation::RegisterHospital)?;
        self.ensure_not_erased(caller).await?;
        let claims = vec![Claim::Cnes(hospital.cnes.as_str().to_string())];
        let reservation = Ulid::new().to_string();
        self.store.reserve(&claims, &reservation).await?;
        let id = Ulid::new().to_string();
        let client = match self
            .identity
            .create_machine_client(&format!("hospital-{id}"))
            .await
        {
            Ok(client) => client,
            Err(err) => {
                self.release_quietly(&claims, &reservation).await;
                return Err(identity_unavailable(err));
            }
        };
        let record = Hospital {
            id: id.clone(),
            name: hospital.name.as_str().to_string(),
            cnes: hospital.cnes.as_str().to_string(),
            client_id: client.client_id.clone(),
            created_at: self.clock.now(),
        };
        let events = vec![event(
            &id,
            HospitalRegistered {
                hospital_id: id.clone(),
                name: record.name.clone(),
                cnes: record.cnes.clone(),
                client_id: record.client_id.clone(),
            },
            trace,
        )];
        if let Err(err) = self
            .store
            .create_hospital(&record, &claims, &reservation, &events)
            .await
        {
            if let Err(undo) = self.identity.delete_machine_client(&client.client_id).await {
                tracing::error!(hospital_id = %id, error = %undo, "could not undo app client of a failed hospital registration");
            }
            self.release_quietly(&claims, &reservation).await;
            return Err(err.into());
        }
        tracing::info!(hospital_id = %id, "hospital registered");
        Ok((record, client))
    }
}
