//! Who may do what with an exam's files. Decided from the exam projection alone, so no other
//! service is called: an answer of [`Access::NotFound`] hides the exam's existence (ids cannot be
//! probed), [`Access::Forbidden`] refuses a role outright.

use clinic_shared::envelope::Role;

use super::model::ExamView;

/// A caller as the rules see it; a hospital's machine client is resolved to its hospital first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub role: Role,
    /// For hospital callers, the hospital their client id belongs to (when known).
    pub hospital_id: Option<String>,
}

/// A rule's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    NotFound,
    Forbidden,
}

impl Actor {
    fn is_patient_of(&self, exam: &ExamView) -> bool {
        self.role == Role::Patient && exam.patient_id.as_deref() == Some(self.id.as_str())
    }

    fn is_doctor_of(&self, exam: &ExamView) -> bool {
        self.role == Role::Doctor && exam.doctor_id.as_deref() == Some(self.id.as_str())
    }

    fn is_hospital_of(&self, exam: &ExamView) -> bool {
        self.role == Role::Hospital
            && self.hospital_id.as_deref() == Some(exam.hospital_id.as_str())
    }

    /// Uploading a file: the assigned doctor or the exam's hospital.
    pub fn may_upload(&self, exam: &ExamView) -> Access {
        match self.role {
            Role::Patient | Role::Staff => Access::Forbidden,
            _ if self.is_doctor_of(exam) || self.is_hospital_of(exam) => Access::Allowed,
            _ => Access::NotFound,
        }
    }

    /// Listing an exam's files: whoever may see the exam.
    pub fn may_see(&self, exam: &ExamView) -> Access {
        if self.role == Role::Staff
            || self.is_patient_of(exam)
            || self.is_doctor_of(exam)
            || self.is_hospital_of(exam)
        {
            Access::Allowed
        } else {
            Access::NotFound
        }
    }

    /// Downloading a file: the owner patient, the assigned doctor, staff; nobody else learns it
    /// exists.
    pub fn may_download(&self, exam: &ExamView) -> Access {
        if self.role == Role::Staff || self.is_patient_of(exam) || self.is_doctor_of(exam) {
            Access::Allowed
        } else {
            Access::NotFound
        }
    }

    /// Reading the access log: the owner patient and staff.
    pub fn may_read_access_log(&self, exam: &ExamView) -> Access {
        match self.role {
            Role::Staff => Access::Allowed,
            Role::Patient if self.is_patient_of(exam) => Access::Allowed,
            Role::Patient => Access::NotFound,
            Role::Doctor | Role::Hospital => Access::Forbidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use clinic_shared::envelope::ExamStatus;

    use super::*;

    fn exam() -> ExamView {
        ExamView {
            exam_id: "e1".into(),
            patient_id: Some("p1".into()),
            hospital_id: "h1".into(),
            hospital_name: "H".into(),
            doctor_id: Some("d1".into()),
            exam_type: "blood".into(),
            scheduled_at: jiff::Timestamp::UNIX_EPOCH,
            status: ExamStatus::Scheduled,
            event_time: jiff::Timestamp::UNIX_EPOCH,
            event_id: "E1".into(),
            patient_erased: false,
        }
    }

    fn actor(id: &str, role: Role, hospital: Option<&str>) -> Actor {
        Actor {
            id: id.into(),
            role,
            hospital_id: hospital.map(str::to_string),
        }
    }

    #[test]
    fn each_role_gets_its_answer() {
        let exam = exam();
        let owner = actor("p1", Role::Patient, None);
        let other = actor("p2", Role::Patient, None);
        let doctor = actor("d1", Role::Doctor, None);
        let other_doctor = actor("d2", Role::Doctor, None);
        let hospital = actor("client-1", Role::Hospital, Some("h1"));
        let other_hospital = actor("client-2", Role::Hospital, Some("h2"));
        let staff = actor("s1", Role::Staff, None);

        assert_eq!(doctor.may_upload(&exam), Access::Allowed);
        assert_eq!(hospital.may_upload(&exam), Access::Allowed);
        assert_eq!(other_doctor.may_upload(&exam), Access::NotFound);
        assert_eq!(other_hospital.may_upload(&exam), Access::NotFound);
        assert_eq!(owner.may_upload(&exam), Access::Forbidden);
        assert_eq!(staff.may_upload(&exam), Access::Forbidden);

        for who in [&owner, &doctor, &hospital, &staff] {
            assert_eq!(who.may_see(&exam), Access::Allowed);
        }
        for who in [&other, &other_doctor, &other_hospital] {
            assert_eq!(who.may_see(&exam), Access::NotFound);
        }

        for who in [&owner, &doctor, &staff] {
            assert_eq!(who.may_download(&exam), Access::Allowed);
        }
        for who in [&other, &other_doctor, &hospital, &other_hospital] {
            assert_eq!(who.may_download(&exam), Access::NotFound);
        }

        assert_eq!(owner.may_read_access_log(&exam), Access::Allowed);
        assert_eq!(staff.may_read_access_log(&exam), Access::Allowed);
        assert_eq!(other.may_read_access_log(&exam), Access::NotFound);
        assert_eq!(doctor.may_read_access_log(&exam), Access::Forbidden);
    }
}
